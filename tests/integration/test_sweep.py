"""The repair sweep settles interrupted stops, expires old rows and republishes audit records."""

from __future__ import annotations

from datetime import timedelta

from botocore.config import Config

from reaper import decisions
from reaper.aws.s3 import AuditLog
from reaper.bootstrap import Services
from reaper.model import DecisionState, Outcome
from reaper.scan import find_idle
from reaper.sweep import reconcile
from tests.aws import HOME, AwsEnv
from tests.calls import fail
from tests.integration.conftest import Seed, quiet
from tests.integration.test_decisions import state_of


def claimed_then_killed(services: Services, seed: Seed, minutes_ago: int) -> tuple[str, str]:
    """A decision claimed `minutes_ago` by a run that died before recording the outcome."""
    ids = seed([quiet("victim")])
    (row,) = decisions.propose(services, find_idle(services, [HOME]).proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(services, [row])
    services.store.transition(
        row.id, source=DecisionState.PENDING, target=DecisionState.STOPPING, event="stop-requested",
        now=services.clock() - timedelta(minutes=minutes_ago), actor="U-alice",
    )
    return row.id, ids["victim"]


def test_a_run_killed_after_stop_instances_is_finished_from_the_real_state(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = claimed_then_killed(services, seed, minutes_ago=10)
    aws.client("ec2").stop_instances(InstanceIds=[instance_id])  # the stop went out, then the process died

    report = reconcile(services)

    assert [d.id for d in report.settled] == [decision_id]
    stored = services.store.get(decision_id)
    assert stored.state is DecisionState.STOPPED and "repair sweep" in (stored.outcome or "")
    assert not stored.unpublished
    assert len(services.audit.keys()) == 2


def test_a_run_killed_before_stop_instances_is_retried_after_a_recheck(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    decision_id, instance_id = claimed_then_killed(services, seed, minutes_ago=10)

    reconcile(services)

    assert services.store.get(decision_id).state is DecisionState.STOPPED
    assert state_of(aws, instance_id) in ("stopping", "stopped")


def test_a_retried_stop_rechecks_eligibility_first(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = claimed_then_killed(services, seed, minutes_ago=10)
    aws.client("ec2").create_tags(Resources=[instance_id], Tags=[{"Key": "reaper:exempt", "Value": "true"}])

    reconcile(services)

    stored = services.store.get(decision_id)
    assert stored.state is DecisionState.SKIPPED and "reaper:exempt" in (stored.outcome or "")
    assert state_of(aws, instance_id) == "running"


def test_a_stale_interrupted_stop_is_failed_not_retried(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = claimed_then_killed(services, seed, minutes_ago=180)

    reconcile(services)

    assert services.store.get(decision_id).state is DecisionState.FAILED
    assert state_of(aws, instance_id) == "running"


def test_a_stop_still_in_flight_is_left_alone(services: Services, seed: Seed) -> None:
    decision_id, _ = claimed_then_killed(services, seed, minutes_ago=1)

    report = reconcile(services)

    assert report.settled == []
    assert services.store.get(decision_id).state is DecisionState.STOPPING


def test_expired_rows_expire_and_fresh_ones_stay(services: Services, seed: Seed) -> None:
    seed([quiet("old"), quiet("new")])
    old, new = decisions.propose(services, find_idle(services, [HOME]).proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(services, [old])
    past = Services(services.settings, clock=lambda: old.created_at - timedelta(days=10))
    (stale,) = decisions.propose(past, find_idle(services, [HOME]).proposed[:1], channel="C1", message_ts="0.1")
    decisions.record_rows(services, [stale, new])

    report = reconcile(services)

    assert [d.id for d in report.expired] == [stale.id]
    assert services.store.get(stale.id).state is DecisionState.EXPIRED
    assert services.store.get(new.id).state is DecisionState.PENDING
    (key,) = [k for k in services.audit.keys() if f"/{stale.id}/" in k]
    audit = services.audit.get(key)
    assert (audit["event"], audit["action"], audit["actor"]) == ("expired", "expire", None)
    assert decisions.stop(services, stale.id, "U-late").outcome is Outcome.EXPIRED


def test_the_sweep_goes_on_when_the_bucket_is_missing(services: Services, seed: Seed, aws: AwsEnv) -> None:
    decision_id, instance_id = claimed_then_killed(services, seed, minutes_ago=10)
    aws.client("ec2").stop_instances(InstanceIds=[instance_id])
    no_bucket = aws.services(audit=AuditLog(aws.client("s3"), "reaper-no-such-bucket"))

    report = reconcile(no_bucket)

    assert [d.id for d in report.settled] == [decision_id] and report.unpublished == 1
    assert services.store.get(decision_id).state is DecisionState.STOPPED


def test_the_sweep_republishes_after_an_s3_outage_and_is_idempotent(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    seed([quiet(f"box-{n}") for n in range(5)])
    rows = decisions.propose(services, find_idle(services, [HOME]).proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(services, rows)
    broken = aws.client("s3", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    fail(broken, "PutObject", "SlowDown", status=503)
    outage = aws.services(audit=AuditLog(broken, aws.bucket))
    for row in rows:
        assert decisions.keep(outage, row.id, "U-alice").audit_published is False
    assert services.audit.keys() == []

    first = reconcile(services)
    second = reconcile(services)

    assert (first.published, first.unpublished) == (5, 0)
    assert (second.published, second.unpublished, second.settled, second.expired) == (0, 0, [], [])
    assert len(services.audit.keys()) == 5


def test_expired_rows_are_not_among_the_recent_decisions(services: Services, seed: Seed) -> None:
    ids = seed([quiet("stale"), quiet("stopped"), quiet("pending")])
    rows = decisions.propose(services, find_idle(services, [HOME]).proposed, channel="C1", message_ts="1.1")
    by_instance = {r.instance_id: r for r in rows}
    past = Services(services.settings, clock=lambda: services.clock() - timedelta(days=10))
    stale = decisions.propose(past, [f for f in find_idle(services, [HOME]).proposed
                                     if f.instance.instance_id == ids["stale"]], channel="C1", message_ts="0.1")
    decisions.record_rows(services, [*stale, by_instance[ids["stopped"]], by_instance[ids["pending"]]])
    decisions.stop(services, by_instance[ids["stopped"]].id, "U-alice")
    assert [d.id for d in reconcile(services).expired] == [stale[0].id]

    recent = services.store.recent()

    assert [(d.instance_id, d.state, d.actor) for d in recent] == [(ids["stopped"], DecisionState.STOPPED, "U-alice")]
