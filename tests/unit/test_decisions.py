"""Every way a Stop or Keep can end, on in-memory fakes of the ports: claim → re-check → act → record → publish."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from reaper import decisions
from reaper.errors import AwsError, DecisionNotFound, MetricsIncomplete, StopUnconfirmed
from reaper.model import DailyUsage, Decision, DecisionState, Finding, Outcome, StopAttempt, Verdict, VerdictKind
from reaper.policy import judge
from tests.fakes.core import HOME, OTHER, FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def offer(world: FakeWorld, instance_id: str = "i-idle", **launch: object) -> Decision:
    """An idle instance offered in a report row of message C1/1.1."""
    instance = world.launch(instance_id, **launch)  # type: ignore[arg-type]
    verdict = judge(world.metrics[instance.region].usage[instance_id], world.settings.policy)
    assert verdict.kind is VerdictKind.IDLE
    (row,) = decisions.propose(world.services, [Finding(instance, verdict)], channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])
    return row


def stop(world: FakeWorld, row: Decision, actor: str = "U-alice", **kwargs: object) -> decisions.Result:
    return decisions.stop(world.services, row.id, actor, channel="C1", message_ts="1.1", **kwargs)  # type: ignore[arg-type]


# -- a stop -------------------------------------------------------------------------------


def test_a_stop_claims_rechecks_stops_records_and_publishes(world: FakeWorld) -> None:
    row = offer(world)

    result = stop(world, row)

    assert result.outcome is Outcome.STOPPED and result.audit_published
    assert world.ec2().stopped == ["i-idle"]
    stored = world.store.records[row.id]
    assert (stored.state, stored.actor, stored.seq, stored.published_seq) == (DecisionState.STOPPED, "U-alice", 2, 2)
    assert [k.rsplit("/", 1)[1] for k in world.audit.documents] == ["0001-stop-requested.json", "0002-stopped.json"]


def test_the_row_remembers_the_instance_as_it_was_judged(world: FakeWorld) -> None:
    row = offer(world, instance_type="m5.large")

    assert (row.instance_type, row.launch_time) == ("m5.large", world.ec2().instances["i-idle"].launch_time)
    assert row.expires_at - row.created_at == timedelta(days=world.settings.row_days)


def test_progress_is_shown_once_the_claim_is_won_and_its_failure_changes_nothing(world: FakeWorld) -> None:
    row = offer(world)
    shown: list[DecisionState] = []

    def claimed(decision: Decision) -> None:
        shown.append(decision.state)
        raise RuntimeError("Slack is down")

    result = stop(world, row, claimed=claimed)

    assert shown == [DecisionState.STOPPING]
    assert result.outcome is Outcome.STOPPED and world.ec2().stopped == ["i-idle"]


def test_progress_is_not_shown_for_a_refused_click(world: FakeWorld) -> None:
    row = offer(world)
    stop(world, row)
    shown: list[Decision] = []

    result = stop(world, row, "U-bob", claimed=shown.append)

    assert result.outcome is Outcome.ALREADY_DECIDED and shown == []


# -- refusals: nothing changes ----------------------------------------------------------------


def test_an_unknown_id_is_not_found(world: FakeWorld) -> None:
    assert decisions.stop(world.services, "nope", "U-alice").outcome is Outcome.NOT_FOUND
    assert decisions.keep(world.services, "nope", "U-alice").outcome is Outcome.NOT_FOUND
    assert world.ec2().failures.calls == {}


def test_a_second_click_is_told_who_decided_and_stops_nothing(world: FakeWorld) -> None:
    row = offer(world)
    stop(world, row)

    again = stop(world, row, "U-bob")

    assert again.outcome is Outcome.ALREADY_DECIDED and again.outcome.refused
    assert again.message == "Already decided by U-alice (stopped)."
    assert world.ec2().failures.calls["stop"] == 1


def test_a_keep_then_a_stop_is_refused(world: FakeWorld) -> None:
    row = offer(world)
    decisions.keep(world.services, row.id, "U-carol")

    result = stop(world, row, "U-dave")

    assert result.outcome is Outcome.ALREADY_DECIDED and "U-carol" in result.message
    assert world.ec2().stopped == []


def test_a_button_of_another_message_is_refused(world: FakeWorld) -> None:
    row = offer(world)

    result = decisions.stop(world.services, row.id, "U-alice", channel="C1", message_ts="9.9")

    assert result.outcome is Outcome.WRONG_MESSAGE
    assert world.store.records[row.id].state is DecisionState.PENDING and world.ec2().stopped == []


@pytest.mark.parametrize("action", ["stop", "keep"])
def test_an_expired_row_is_refused_and_stays_for_the_sweep(world: FakeWorld, action: str) -> None:
    row = offer(world)
    world.clock.now = row.expires_at

    result = getattr(decisions, action)(world.services, row.id, "U-alice")

    assert result.outcome is Outcome.EXPIRED
    assert world.store.records[row.id].state is DecisionState.PENDING


def test_an_expired_row_the_sweep_closed_is_still_expired(world: FakeWorld) -> None:
    row = offer(world)
    world.store.transition(row.id, source=DecisionState.PENDING, target=DecisionState.EXPIRED, event="expired",
                           now=world.clock())

    assert stop(world, row).outcome is Outcome.EXPIRED


def test_of_many_concurrent_clicks_exactly_one_stops(world: FakeWorld) -> None:
    row = offer(world)
    barrier = threading.Barrier(8)
    outcomes: list[Outcome] = []

    def click(k: int) -> None:
        barrier.wait()
        outcomes.append(stop(world, row, f"U-{k}").outcome)

    threads = [threading.Thread(target=click, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == sorted([Outcome.STOPPED] + [Outcome.ALREADY_DECIDED] * 7)
    assert world.ec2().stopped == ["i-idle"]


# -- the re-check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("exempt", "tagged reaper:exempt"),
        ("protected", "stop protection is enabled"),
        ("kept", "kept by a team member"),
        ("stopped", "the instance is already stopped"),
        ("gone", "the instance no longer exists"),
    ],
)
def test_a_change_since_the_report_skips_the_stop(world: FakeWorld, change: str, reason: str) -> None:
    row = offer(world)
    other_row = offer(world, "i-other")
    ec2 = world.ec2()
    instance = ec2.instances["i-idle"]
    if change == "exempt":
        ec2.add(replace(instance, tags={"reaper:exempt": "yes"}))
    elif change == "protected":
        ec2.protected.add("i-idle")
    elif change == "kept":  # a Keep pressed on another report's row for the same instance
        world.store.records[other_row.id] = replace(world.store.records[other_row.id], instance_id="i-idle")
        decisions.keep(world.services, other_row.id, "U-carol")
    elif change == "stopped":
        ec2.add(replace(instance, state="stopped"))
    else:
        del ec2.instances["i-idle"]

    result = stop(world, row)

    assert result.outcome is Outcome.SKIPPED and result.message == reason
    assert world.store.records[row.id].state is DecisionState.SKIPPED and ec2.stopped == []


def test_the_click_re_check_skips_a_type_with_local_disks_whatever_the_row_said(world: FakeWorld) -> None:
    # A row from a report made before the type's disks were known (an older reaper, say):
    # the re-check asks the same pipeline, and the instance is not stopped.
    row = offer(world, instance_type="m5d.large")
    world.ec2().local_disk_types.add("m5d.large")

    result = stop(world, row)

    assert result.outcome is Outcome.SKIPPED and result.message == "local instance-store disks would be erased"
    assert world.ec2().stopped == []


# -- the re-check: still the instance that was judged, and still idle -------------------------


def used(world: FakeWorld, instance_id: str, day: date, **usage: float) -> None:
    """CloudWatch data of one more day for the instance (today's stands for the hours so far)."""
    values = {"cpu_percent": 0.5, "cpu_peak_percent": 0.5, "network_in_bytes": 0.0, "network_out_bytes": 0.0,
              **usage}
    world.metrics[HOME].usage[instance_id].append(DailyUsage(day, **values))


def test_a_stale_row_of_an_instance_busy_since_the_report_is_not_stopped(world: FakeWorld) -> None:
    row = offer(world)
    used(world, "i-idle", date(2026, 12, 1), cpu_percent=81.0, cpu_peak_percent=97.0)
    used(world, "i-idle", date(2026, 12, 2))
    world.clock.advance(days=2)  # 3 Dec, the row still clickable

    result = stop(world, row)

    assert result.outcome is Outcome.SKIPPED and result.message == "busy since the report (CPU 81 % on 1 Dec)"
    assert world.store.records[row.id].reason == result.message and world.ec2().stopped == []
    assert world.metrics[HOME].failures.calls["usage_since"] == 1


@pytest.mark.parametrize(
    ("usage", "reason"),
    [
        ({"cpu_peak_percent": 63.0}, "busy since the report (peak CPU 63 % on 3 Dec)"),
        ({"network_in_bytes": 2e6}, "busy since the report (network 2.0 MB on 3 Dec)"),
    ],
)
def test_work_today_by_the_same_thresholds_is_busy_since_the_report(
    world: FakeWorld, usage: dict[str, float], reason: str
) -> None:
    row = offer(world)
    world.clock.now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # a quarter of today: 1.25 MB of network allowed
    used(world, "i-idle", date(2026, 12, 3), **usage)

    result = stop(world, row)

    assert (result.outcome, result.message) == (Outcome.SKIPPED, reason) and world.ec2().stopped == []


def test_a_quiet_day_since_the_report_lets_the_stop_go_ahead(world: FakeWorld) -> None:
    row = offer(world)
    world.clock.now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    used(world, "i-idle", date(2026, 12, 2), cpu_percent=4.0, cpu_peak_percent=19.0, network_in_bytes=4.9e6)
    used(world, "i-idle", date(2026, 12, 3), network_in_bytes=1.2e6)

    assert stop(world, row).outcome is Outcome.STOPPED and world.ec2().stopped == ["i-idle"]


def test_an_instance_restarted_since_the_report_is_not_stopped(world: FakeWorld) -> None:
    row = offer(world)
    ec2 = world.ec2()
    ec2.add(replace(ec2.instances["i-idle"], launch_time=world.clock.advance(hours=5)))
    world.clock.advance(hours=1)

    result = stop(world, row)

    assert result.outcome is Outcome.SKIPPED and result.message == "restarted since the report (at 1 Dec 14:00 UTC)"
    assert ec2.stopped == [] and world.metrics[HOME].failures.calls["usage_since"] == 0


def test_an_instance_whose_type_changed_since_the_report_is_not_stopped(world: FakeWorld) -> None:
    row = offer(world, instance_type="t3.medium")
    ec2 = world.ec2()
    ec2.add(replace(ec2.instances["i-idle"], instance_type="m5.4xlarge", launch_time=world.clock.advance(hours=1)))

    result = stop(world, row)

    assert result.outcome is Outcome.SKIPPED
    assert result.message == "its type changed since the report (t3.medium → m5.4xlarge)" and ec2.stopped == []


def test_a_row_recorded_before_type_and_launch_time_were_kept_is_judged_by_the_rest(world: FakeWorld) -> None:
    row = offer(world)
    world.store.records[row.id] = replace(world.store.records[row.id], instance_type=None, launch_time=None)

    assert stop(world, row).outcome is Outcome.STOPPED


def test_metrics_that_cannot_be_read_at_the_re_check_fail_the_stop_without_acting(world: FakeWorld) -> None:
    row = offer(world)
    world.metrics[HOME].failures.fail("usage_since", MetricsIncomplete("CloudWatch GetMetricData returned Forbidden"))

    result = stop(world, row)

    assert result.outcome is Outcome.FAILED and world.ec2().stopped == []
    assert result.message == "could not re-check the instance: CloudWatch GetMetricData returned Forbidden"


def test_a_look_up_that_fails_at_the_re_check_fails_the_stop_without_acting(world: FakeWorld) -> None:
    row = offer(world)
    world.ec2().failures.fail("stop_protected", AwsError("throttled", "RequestLimitExceeded"))

    result = stop(world, row)

    assert result.outcome is Outcome.FAILED and result.message == "could not check: RequestLimitExceeded"
    assert world.ec2().stopped == []


def test_a_describe_that_fails_at_the_re_check_fails_the_stop(world: FakeWorld) -> None:
    row = offer(world)
    world.ec2().failures.fail("describe", AwsError("Unavailable: try later", "Unavailable"))

    result = stop(world, row)

    assert result.outcome is Outcome.FAILED
    assert result.message == "could not re-check the instance: Unavailable: try later"


# -- the act ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [DecisionState.SKIPPED, DecisionState.FAILED])
def test_a_refusal_by_ec2_is_recorded_as_it_came(world: FakeWorld, state: DecisionState) -> None:
    row = offer(world)
    world.ec2().refusals["i-idle"] = StopAttempt(state, "EC2 says no", "SomeCode")

    result = stop(world, row)

    assert world.store.records[row.id].state is state and result.message == "EC2 says no"


def test_an_unexpected_ec2_error_fails_the_stop_and_says_so(world: FakeWorld) -> None:
    row = offer(world)
    world.ec2().failures.fail("stop", AwsError("InvalidParameterValue: bad", "InvalidParameterValue"))

    result = stop(world, row)

    assert result.outcome is Outcome.FAILED and result.message == "StopInstances failed: InvalidParameterValue: bad"
    assert world.store.records[row.id].state is DecisionState.FAILED


def test_a_stop_without_an_answer_stays_stopping_for_the_sweep(world: FakeWorld) -> None:
    row = offer(world)
    world.ec2().failures.fail("stop", StopUnconfirmed("read timeout"))

    result = stop(world, row)

    assert result.outcome is Outcome.UNCONFIRMED and not result.audit_published
    assert world.store.records[row.id].state is DecisionState.STOPPING


# -- the record and the audit trail ------------------------------------------------------------


def test_a_claim_that_cannot_be_written_stops_nothing_and_says_so(world: FakeWorld) -> None:
    row = offer(world)
    world.store.failures.fail("transition", AwsError("DynamoDB: ProvisionedThroughputExceededException: slow"))

    result = stop(world, row)

    assert result.outcome is Outcome.FAILED and result.decision is None
    assert result.message.startswith("Nothing was stopped") and world.ec2().failures.calls["stop"] == 0
    assert world.store.records[row.id].state is DecisionState.PENDING


def test_an_outcome_that_cannot_be_written_tells_the_truth_and_leaves_the_sweep_to_record_it(
    world: FakeWorld,
) -> None:
    row = offer(world)
    original = world.store.transition

    def second_fails(decision_id: str, **kwargs: object) -> Decision:
        if kwargs["source"] is DecisionState.STOPPING:
            raise AwsError("DynamoDB: InternalServerError")
        return original(decision_id, **kwargs)  # type: ignore[arg-type]

    world.store.transition = second_fails  # type: ignore[method-assign]

    result = stop(world, row)

    assert result.outcome is Outcome.STOPPED and not result.audit_published
    assert result.decision is not None and result.decision.state is DecisionState.STOPPING
    assert "the repair sweep will record it" in result.message and world.ec2().stopped == ["i-idle"]


@pytest.mark.parametrize("operation", ["put", "mark_published"])
def test_an_audit_that_cannot_be_written_leaves_the_decision_unpublished(world: FakeWorld, operation: str) -> None:
    row = offer(world)
    target = world.audit if operation == "put" else world.store
    target.failures.fail(operation, AwsError("SlowDown"))  # type: ignore[attr-defined]

    result = stop(world, row)

    assert result.outcome is Outcome.STOPPED and not result.audit_published
    assert world.store.records[row.id].unpublished
    assert decisions.publish_pending(world.services) == (1, 0)
    assert not world.store.records[row.id].unpublished and len(world.audit.documents) == 2


def test_a_record_gone_while_publishing_leaves_the_rest_of_the_outbox_to_publish(world: FakeWorld) -> None:
    rows = [offer(world, f"i-{n}") for n in range(2)]
    world.audit.failures.fail("put", AwsError("SlowDown"), times=2)
    for row in rows:
        decisions.keep(world.services, row.id, "U-alice")
    world.store.failures.fail("mark_published", DecisionNotFound(rows[0].id))  # its TTL ran out meanwhile

    assert decisions.publish_pending(world.services) == (1, 1)


def test_publishing_twice_writes_each_event_once(world: FakeWorld) -> None:
    row = offer(world)
    stop(world, row)
    stored = world.store.records[row.id]

    assert decisions.publish(world.services, replace(stored, published_seq=0)) is True
    assert len(world.audit.documents) == 2


def test_audit_documents_say_who_did_what(world: FakeWorld) -> None:
    row = offer(world)
    decisions.keep(world.services, row.id, "U-carol", days=5)

    (document,) = world.audit.documents.values()

    assert (document["action"], document["actor"], document["outcome"], document["instance_id"]) == (
        "keep", "U-carol", "kept", "i-idle")


# -- keep, and decisions asked for directly ---------------------------------------------------


def test_keep_hides_the_instance_until_it_expires(world: FakeWorld) -> None:
    row = offer(world)

    result = decisions.keep(world.services, row.id, "U-carol", days=5)

    assert result.outcome is Outcome.KEPT and result.audit_published
    assert world.store.active_keeps(world.clock()) == {(HOME, "i-idle")}
    assert world.store.active_keeps(world.clock.advance(days=5)) == set()


def test_a_keep_that_cannot_be_written_keeps_nothing_and_says_so(world: FakeWorld) -> None:
    row = offer(world)
    world.store.failures.fail("transition", AwsError("DynamoDB: Unavailable"))

    result = decisions.keep(world.services, row.id, "U-carol")

    assert result.outcome is Outcome.FAILED and result.message.startswith("Nothing was kept")


def test_a_cli_stop_finds_the_region_and_uses_the_same_path(world: FakeWorld) -> None:
    world.launch("i-far", region="eu-west-1")

    result = decisions.stop_instance(world.services, "i-far", "cli:alice")

    assert result.outcome is Outcome.STOPPED and result.decision is not None
    assert result.decision.region == "eu-west-1" and world.ec2("eu-west-1").stopped == ["i-far"]


def test_a_cli_stop_of_an_instance_the_policy_calls_busy_is_refused_without_force(world: FakeWorld) -> None:
    world.launch("i-busy", cpu=(50.0,) * 14)

    result = decisions.stop_instance(world.services, "i-busy", "cli:alice")

    assert result.outcome is Outcome.NEEDS_FORCE and result.outcome.refused and result.decision is None
    assert result.message == ("not stopped: the idle policy calls it busy (busy on 14 of 14 days). "
                              "Add --force to stop it anyway.")
    assert world.store.records == {} and world.ec2().failures.calls["stop"] == 0


def test_a_cli_stop_outside_reaper_regions_is_refused_without_force(world: FakeWorld) -> None:
    world.env["REAPER_REGIONS"] = HOME
    world.launch("i-far", region=OTHER)

    result = decisions.stop_instance(world.services, "i-far", "cli:alice", region=OTHER)

    assert result.outcome is Outcome.NEEDS_FORCE
    assert result.message == (f"not stopped: {OTHER} is not one of REAPER_REGIONS ({HOME}). "
                              "Add --force to stop it anyway.")
    assert world.ec2(OTHER).stopped == []


def test_a_cli_stop_of_an_instance_too_new_to_judge_is_refused_without_force(world: FakeWorld) -> None:
    world.launch("i-new", cpu=(0.5,) * 2)

    result = decisions.stop_instance(world.services, "i-new", "cli:alice")

    assert result.outcome is Outcome.NEEDS_FORCE
    assert "the idle policy cannot call it idle yet (2 of 3 required days of CPU data)" in result.message


def test_a_forced_cli_stop_goes_ahead_and_its_audit_record_says_what_it_overrode(world: FakeWorld) -> None:
    world.env["REAPER_REGIONS"] = HOME
    world.launch("i-busy", region=OTHER, cpu=(50.0,) * 14)
    world.metrics[OTHER].usage["i-busy"].append(DailyUsage(world.clock().date(), 60.0, 90.0, 0.0, 0.0))

    result = decisions.stop_instance(world.services, "i-busy", "cli:alice", region=OTHER, force=True)

    assert result.outcome is Outcome.STOPPED and world.ec2(OTHER).stopped == ["i-busy"]
    claim = next(d for d in world.audit.documents.values() if d["seq"] == 1)
    assert (claim["event"], claim["action"], claim["actor"]) == ("stop-forced", "stop", "cli:alice")
    assert claim["reason"] == (f"forced past: {OTHER} is not one of REAPER_REGIONS ({HOME}); "
                               "the idle policy calls it busy (busy on 14 of 14 days)")


def test_a_forced_stop_still_respects_the_exempt_tag(world: FakeWorld) -> None:
    world.launch("i-exempt", cpu=(50.0,) * 14, tags={"reaper:exempt": "true"})

    result = decisions.stop_instance(world.services, "i-exempt", "cli:alice", force=True)

    assert (result.outcome, result.message) == (Outcome.SKIPPED, "tagged reaper:exempt")
    assert world.ec2().stopped == []


def test_rows_and_recent_read_the_records(world: FakeWorld) -> None:
    first, second = offer(world, "i-a"), offer(world, "i-b")
    stop(world, first)

    assert set(decisions.rows(world.services, [first.id, second.id, "gone"])) == {first.id, second.id}
    assert [d.id for d in decisions.recent(world.services)] == [first.id]


def test_recent_lists_decisions_people_made_and_never_rows_nobody_answered(world: FakeWorld) -> None:
    stopped, kept, skipped, unanswered = (offer(world, f"i-{n}") for n in range(4))
    stop(world, stopped)
    decisions.keep(world.services, kept.id, "U-bob")
    world.ec2().protected.add("i-2")
    stop(world, skipped)
    world.store.transition(unanswered.id, source=DecisionState.PENDING, target=DecisionState.EXPIRED,
                           event="expired", now=world.clock.advance(days=3))

    states = {d.instance_id: d.state for d in decisions.recent(world.services)}

    assert states == {"i-0": DecisionState.STOPPED, "i-1": DecisionState.KEPT, "i-2": DecisionState.SKIPPED}


def test_a_noted_failure_leaves_the_state_alone(world: FakeWorld) -> None:
    row = offer(world)

    decisions.note_failure(world.services, row.id, "chat.update failed")

    assert world.store.records[row.id].state is DecisionState.PENDING
    assert (world.store.records[row.id].last_error or "").endswith("chat.update failed")


def test_a_verdict_that_is_not_idle_is_never_proposed(world: FakeWorld) -> None:
    instance = world.launch("i-busy", cpu=(50.0,) * 14)
    verdict = Verdict(VerdictKind.BUSY, judge([], world.settings.policy).evidence, "busy")

    assert decisions.propose(world.services, [Finding(instance, verdict)], channel=None, message_ts=None) == []
