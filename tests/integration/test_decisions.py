"""Stop and keep against moto's server: DynamoDB records, S3 audit objects, races and refusals."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from botocore.config import Config

from reaper import decisions
from reaper.aws.ec2 import Ec2Gateway
from reaper.aws.s3 import AuditLog
from reaper.bootstrap import Services
from reaper.errors import DecisionNotFound
from reaper.model import DecisionState, Outcome
from reaper.scan import find_idle
from tests.aws import HOME, AwsEnv
from tests.calls import CallLog, fail
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


def test_a_second_stop_reports_who_handled_it_and_stops_nothing(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, _ = offered_row(services, seed)
    log = CallLog()
    counted = aws.services(ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))
    decisions.stop(counted, decision_id, "U-alice")

    again = decisions.stop(counted, decision_id, "U-bob")

    assert again.outcome is Outcome.ALREADY_HANDLED
    assert "U-alice" in again.message
    assert log.counts["StopInstances"] == 1
    assert services.store.get(decision_id).actor == "U-alice"


def test_keep_hides_the_instance_from_the_next_report_until_it_expires(
    services: Services, seed: Seed
) -> None:
    decision_id, instance_id = offered_row(services, seed)

    result = decisions.keep(services, decision_id, "U-carol", days=5)

    assert result.outcome is Outcome.KEPT
    kept = services.store.get(decision_id)
    assert kept.state is DecisionState.KEPT and kept.keep_until is not None
    assert timedelta(days=4, hours=23) < kept.keep_until - kept.decided_at <= timedelta(days=5)  # type: ignore[operator]
    assert [f.skip.value for f in find_idle(services, [HOME]).skipped] == ["kept"]  # type: ignore[union-attr]
    later = Services(services.settings, clock=lambda: kept.keep_until + timedelta(seconds=1))  # type: ignore[operator]
    assert [f.instance.instance_id for f in find_idle(later, [HOME]).proposed] == [instance_id]
    assert [k.rsplit("/", 1)[1] for k in services.audit.keys()] == ["0001-kept.json"]


def test_stop_after_keep_changes_nothing(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)
    decisions.keep(services, decision_id, "U-carol")

    result = decisions.stop(services, decision_id, "U-dave")

    assert result.outcome is Outcome.ALREADY_HANDLED and "U-carol" in result.message
    assert state_of(aws, instance_id) == "running"


def test_an_expired_row_cannot_be_acted_on(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)
    row = services.store.get(decision_id)
    later = Services(services.settings, clock=lambda: row.expires_at + timedelta(seconds=1))

    result = decisions.stop(later, decision_id, "U-alice")

    assert result.outcome is Outcome.EXPIRED
    assert state_of(aws, instance_id) == "running"
    assert services.store.get(decision_id).state is DecisionState.PENDING


def test_a_row_of_another_message_is_refused(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)

    result = decisions.stop(services, decision_id, "U-alice", channel="C1", message_ts="999.999")

    assert result.outcome is Outcome.FAILED and "does not belong" in result.message
    assert state_of(aws, instance_id) == "running"


def test_an_unknown_decision_id_is_not_found(services: Services) -> None:
    with pytest.raises(DecisionNotFound):
        services.store.get("not-a-real-id")
    with pytest.raises(DecisionNotFound):
        decisions.stop(services, "not-a-real-id", "U-alice")
    with pytest.raises(DecisionNotFound):
        decisions.keep(services, "not-a-real-id", "U-alice")


def test_tags_changed_since_the_report_are_rechecked_before_stopping(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    aws.client("ec2").create_tags(Resources=[instance_id], Tags=[{"Key": "reaper:exempt", "Value": "true"}])

    result = decisions.stop(services, decision_id, "U-alice")

    assert result.outcome is Outcome.SKIPPED and "reaper:exempt" in result.message
    assert state_of(aws, instance_id) == "running"
    assert services.store.get(decision_id).state is DecisionState.SKIPPED


def test_an_instance_stopped_since_the_report_is_skipped(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)
    aws.client("ec2").stop_instances(InstanceIds=[instance_id])

    result = decisions.stop(services, decision_id, "U-alice")

    assert result.outcome is Outcome.SKIPPED and "already stopped" in result.message


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("IncorrectInstanceState", DecisionState.SKIPPED),
        ("UnsupportedOperation", DecisionState.SKIPPED),
        ("OperationNotPermitted", DecisionState.SKIPPED),
        ("UnauthorizedOperation", DecisionState.FAILED),
        ("InvalidInstanceID.NotFound", DecisionState.SKIPPED),
        ("InvalidParameterValue", DecisionState.FAILED),
    ],
)
def test_stop_refusals_become_recorded_outcomes_without_retry(
    services: Services, seed: Seed, aws: AwsEnv, code: str, state: DecisionState
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    client = aws.client("ec2")
    injected = fail(client, "StopInstances", code)

    result = decisions.stop(aws.services(ec2=lambda r: Ec2Gateway(client, r)), decision_id, "U-alice")

    stored = services.store.get(decision_id)
    assert stored.state is state and stored.outcome == result.message
    assert injected() == 1
    assert state_of(aws, instance_id) == "running"


def test_throttled_stop_is_retried_into_one_logical_stop(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = offered_row(services, seed)
    client = aws.client("ec2")
    injected = fail(client, "StopInstances", "RequestLimitExceeded", times=2, status=503)

    result = decisions.stop(aws.services(ec2=lambda r: Ec2Gateway(client, r)), decision_id, "U-alice")

    assert injected() == 2
    assert result.outcome is Outcome.STOPPED
    assert state_of(aws, instance_id) in ("stopping", "stopped")


def test_s3_failure_keeps_the_decision_and_a_later_publish_writes_it(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    broken = aws.client("s3", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    fail(broken, "PutObject", "SlowDown", status=503)
    outage = aws.services(audit=AuditLog(broken, aws.bucket))

    result = decisions.stop(outage, decision_id, "U-alice")

    assert result.outcome is Outcome.STOPPED and not result.audit_published
    stored = services.store.get(decision_id)
    assert stored.state is DecisionState.STOPPED and stored.unpublished
    assert services.audit.keys() == []
    assert [d.id for d in services.store.unpublished()] == [decision_id]

    assert decisions.publish_pending(services) == (1, 0)
    assert len(services.audit.keys()) == 2
    assert services.store.unpublished() == []
    assert not services.store.get(decision_id).unpublished


def test_a_missing_bucket_is_an_unpublished_decision_not_a_failed_stop(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = offered_row(services, seed)
    no_bucket = aws.services(audit=AuditLog(aws.client("s3"), "reaper-no-such-bucket"))

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


def test_two_threads_stopping_one_decision_call_stop_instances_once(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    # DynamoDB makes the conditional claim atomic; moto's threaded server does not, so
    # the emulator serialises DynamoDB requests (demo/emulator.py) as DynamoDB would.
    # Repeated so that an interleaving where both threads pass the claim would show up.
    ids = seed([quiet(f"race-{n}") for n in range(10)])
    log = CallLog()
    client = log.attach(aws.client("ec2"))
    racing = aws.services(ec2=lambda r: Ec2Gateway(client, r))
    report = find_idle(services, [HOME])
    rows = decisions.propose(services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(services, rows)
    assert len(rows) == len(ids)

    outcomes: list[Outcome] = []
    for row in rows:
        barrier = threading.Barrier(2)

        def click(actor: str, decision_id: str = row.id, gate: threading.Barrier = barrier) -> None:
            gate.wait()
            outcomes.append(decisions.stop(racing, decision_id, actor).outcome)

        threads = [threading.Thread(target=click, args=(a,)) for a in ("U-1", "U-2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert log.counts["StopInstances"] == len(rows)
    assert sorted(o.value for o in outcomes) == sorted(["already_handled", "stopped"] * len(rows))


def test_cli_style_stop_and_keep_create_their_own_decisions(services: Services, seed: Seed, aws: AwsEnv) -> None:
    ids = seed([quiet("a"), quiet("b")])

    stopped = decisions.stop_instance(services, ids["a"], "cli:alice")
    kept = decisions.keep_instance(services, ids["b"], "cli:alice", days=3)

    assert stopped.outcome is Outcome.STOPPED and stopped.decision.region == HOME
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
