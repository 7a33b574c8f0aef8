"""The use cases through the real gateways on moto's server: what DynamoDB's conditions, S3's write-once and
EC2's refusals do on the wire. Every decision path on its own is in tests/unit/test_decisions.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reaper import decisions
from reaper.aws.ec2 import Ec2Gateway
from reaper.aws.s3 import S3AuditLog
from reaper.errors import DecisionNotFound
from reaper.model import DecisionState, Outcome
from reaper.ports import Services
from reaper.scan import find_idle
from tests.aws import HOME, AwsEnv
from tests.calls import CallLog
from tests.integration.conftest import Seed, quiet


def state_of(aws: AwsEnv, instance_id: str) -> str:
    r = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(r["Reservations"][0]["Instances"][0]["State"]["Name"])


def offered_row(services: Services, seed: Seed, name: str = "idle") -> tuple[str, str]:
    """Seed one idle instance, scan, record its report row; (decision id, instance id)."""
    ids = seed([quiet(name)])
    report = find_idle(services, [HOME])
    (row,) = decisions.propose(services, report.proposed, channel="C1", message_ts="111.222")
    decisions.record_rows(services, [row])
    return row.id, ids[name]


def test_stop_stops_the_instance_and_records_it_in_dynamodb_and_s3(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)

    result = decisions.stop(services, decision_id, "U-alice", channel="C1", message_ts="111.222")

    assert result.outcome is Outcome.STOPPED and result.audit_published
    assert state_of(aws, instance_id) in ("stopping", "stopped")
    stored = services.store.get(decision_id)
    assert (stored.state, stored.actor, stored.instance_id) == (DecisionState.STOPPED, "U-alice", instance_id)
    assert stored.decided_at is not None and not stored.unpublished
    keys = services.audit.keys()
    assert [k.rsplit("/", 1)[1] for k in keys] == ["0001-stop-requested.json", "0002-stopped.json"]
    assert all(f"/{decision_id}/" in k for k in keys)
    document = services.audit.get(keys[1])
    assert document["instance_id"] == instance_id and document["region"] == HOME
    assert (document["action"], document["actor"], document["outcome"]) == ("stop", "U-alice", "stopped")


def test_a_stale_row_of_an_instance_busy_since_the_report_is_skipped_and_not_stopped(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    busy_at = aws.busy_now(instance_id, cpu=81.0)
    log = CallLog()
    counted = aws.services(ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))

    result = decisions.stop(counted, decision_id, "U-alice", channel="C1", message_ts="111.222")

    assert result.outcome is Outcome.SKIPPED
    assert result.message == f"busy since the report (CPU 81 % on {busy_at.day} {busy_at:%b})"
    assert log.counts["StopInstances"] == 0 and state_of(aws, instance_id) == "running"
    assert services.store.get(decision_id).state is DecisionState.SKIPPED


def test_a_second_stop_reports_who_handled_it_and_stops_nothing(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, _ = offered_row(services, seed)
    log = CallLog()
    counted = aws.services(ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))
    decisions.stop(counted, decision_id, "U-alice")

    again = decisions.stop(counted, decision_id, "U-bob")

    assert again.outcome is Outcome.ALREADY_DECIDED
    assert "U-alice" in again.message
    assert log.counts["StopInstances"] == 1
    assert services.store.get(decision_id).actor == "U-alice"




def test_an_expired_row_cannot_be_acted_on(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)
    row = services.store.get(decision_id)
    later = replace(services, clock=lambda: row.expires_at + timedelta(seconds=1))

    result = decisions.stop(later, decision_id, "U-alice")

    assert result.outcome is Outcome.EXPIRED
    assert state_of(aws, instance_id) == "running"
    assert services.store.get(decision_id).state is DecisionState.PENDING


def test_a_row_of_another_message_is_refused(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)

    result = decisions.stop(services, decision_id, "U-alice", channel="C1", message_ts="999.999")

    assert result.outcome is Outcome.WRONG_MESSAGE and "does not belong" in result.message
    assert state_of(aws, instance_id) == "running"


def test_an_unknown_decision_id_is_not_found(services: Services) -> None:
    with pytest.raises(DecisionNotFound):
        services.store.get("not-a-real-id")
    assert decisions.stop(services, "not-a-real-id", "U-alice").outcome is Outcome.NOT_FOUND
    assert decisions.keep(services, "not-a-real-id", "U-alice").outcome is Outcome.NOT_FOUND






def test_a_missing_bucket_is_an_unpublished_decision_not_a_failed_stop(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    no_bucket = aws.services(audit=S3AuditLog(aws.client("s3"), "reaper-no-such-bucket"))

    result = decisions.stop(no_bucket, decision_id, "U-alice")

    assert result.outcome is Outcome.STOPPED and not result.audit_published
    assert state_of(aws, instance_id) in ("stopping", "stopped")
    assert services.store.get(decision_id).unpublished
    assert decisions.publish_pending(no_bucket) == (0, 1)
    assert decisions.publish_pending(services) == (1, 0)
    assert len(services.audit.keys()) == 2


def test_republishing_never_overwrites_an_audit_object(services: Services, seed: Seed) -> None:
    decision_id, _ = offered_row(services, seed)
    decisions.stop(services, decision_id, "U-alice")
    stored = services.store.get(decision_id)
    key = decisions.audit_key(stored, stored.events[0])

    written = services.audit.put(key, {"tampered": True})

    assert written is False
    assert "tampered" not in services.audit.get(key)
    assert decisions.publish(services, replace(stored, published_seq=0)) is True
    assert len(services.audit.keys()) == 2



def test_cli_style_stop_and_keep_create_their_own_decisions(services: Services, seed: Seed, aws: AwsEnv) -> None:
    ids = seed([quiet("a"), quiet("b")])

    stopped = decisions.stop_instance(services, ids["a"], "cli:alice")
    kept = decisions.keep_instance(services, ids["b"], "cli:alice", days=3)

    assert stopped.outcome is Outcome.STOPPED and stopped.decision and stopped.decision.region == HOME
    assert kept.outcome is Outcome.KEPT
    assert {d.state for d in services.store.recent()} == {DecisionState.STOPPED, DecisionState.KEPT}
    assert services.store.active_keeps(services.clock()) == {(HOME, ids["b"])}


def test_a_failure_noted_on_a_decision_leaves_its_state_alone(services: Services, seed: Seed) -> None:
    decision_id, _ = offered_row(services, seed)

    services.store.note_error(decision_id, "chat.update failed: ratelimited", services.clock())
    services.store.note_error("no-such-decision", "ignored", services.clock())

    stored = services.store.get(decision_id)
    assert stored.state is DecisionState.PENDING
    assert stored.last_error is not None and stored.last_error.endswith("chat.update failed: ratelimited")
    assert decisions.stop(services, decision_id, "U-alice").outcome is Outcome.STOPPED


def _ttl(aws: AwsEnv, decision_id: str) -> object:
    item = aws.client("dynamodb").get_item(TableName=aws.table, Key={"id": {"S": decision_id}})["Item"]
    return item.get("ttl")


def test_a_stop_keeps_its_saving_and_its_record_for_the_savings_since_install(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, _ = offered_row(services, seed)
    offered = services.store.get(decision_id)

    decisions.stop(services, decision_id, "U-alice", channel="C1", message_ts="111.222")

    stored = services.store.get(decision_id)
    assert offered.hourly_saving is not None and stored.hourly_saving == pytest.approx(offered.hourly_saving)
    assert _ttl(aws, decision_id) is None  # other settled decisions expire after HISTORY; a stop is kept


def test_a_kept_row_still_expires(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, _ = offered_row(services, seed)

    decisions.keep(services, decision_id, "U-bob", channel="C1", message_ts="111.222")

    assert _ttl(aws, decision_id) is not None


def test_only_the_first_end_of_a_stops_saving_is_recorded(services: Services, seed: Seed) -> None:
    decision_id, _ = offered_row(services, seed)
    decisions.stop(services, decision_id, "U-alice", channel="C1", message_ts="111.222")
    first = services.store.get(decision_id).decided_at
    assert first is not None

    services.store.end_saving(decision_id, first + timedelta(hours=2))
    services.store.end_saving(decision_id, first + timedelta(hours=5))
    services.store.end_saving("no-such-decision", first)

    assert services.store.get(decision_id).saving_ended_at == first + timedelta(hours=2)


def test_a_keep_through_the_gateways_tags_the_instance_with_keep_until_alone_and_the_row_keeps_its_owner(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    before = {t["Key"]: t["Value"] for t in aws.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]}

    result = decisions.keep(services, decision_id, "U-bob", days=30, reason="load test next month",
                            channel="C1", message_ts="111.222")

    assert result.outcome is Outcome.KEPT
    stored = services.store.get(decision_id)
    assert stored.reason == "load test next month" and stored.owner == before.get("Owner")
    after = {t["Key"]: t["Value"] for t in aws.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]}
    assert after == {**before, "reaper:keep-until": stored.keep_until.date().isoformat()}  # type: ignore[union-attr]


def test_a_superseded_row_records_its_successor_and_refuses_a_click(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    """reaper.changes on DynamoDB: the newer row counts two reports and keeps the idle-since day; the
    older row is closed by a conditional write that records which row replaced it."""
    from reaper import changes

    old_id, instance_id = offered_row(services, seed)
    report = find_idle(services, [HOME])
    judged = changes.what_changed(services, report)
    rows = judged.carry(decisions.propose(services, report.proposed, channel="C1", message_ts="333.444"),
                        report.proposed)
    decisions.record_rows(services, rows)

    closed = changes.supersede(services, judged, rows)

    [new] = rows
    assert [d.id for d in closed.closed] == [old_id] and not closed.errors
    old = services.store.get(old_id)
    assert (old.state, old.superseded_by) == (DecisionState.SUPERSEDED, new.id)
    stored = services.store.get(new.id)
    assert (stored.reports, stored.idle_since, stored.state) == (2, new.idle_since, DecisionState.PENDING)
    assert stored.idle_since is not None
    result = decisions.stop(services, old_id, "U0ALICE", channel="C1", message_ts="111.222")
    assert result.outcome is Outcome.SUPERSEDED
    assert state_of(aws, instance_id) == "running"
    assert old_id not in {d.id for d in services.store.recent(10)}  # not a decision anyone made
