"""The repair sweep on fakes: interrupted stops finished from the real state, rows expired, audit republished."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reaper import decisions
from reaper.errors import AwsError, DecisionNotFound, StopUnconfirmed
from reaper.model import DailyUsage, Decision, DecisionState, Outcome
from reaper.sweep import reconcile
from tests.fakes.core import HOME, FakeWorld
from tests.unit.test_decisions import offer


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def interrupted(world: FakeWorld, minutes_ago: int, instance_id: str = "i-idle") -> Decision:
    """A row claimed `minutes_ago` by a run that died before recording the outcome."""
    row = offer(world, instance_id)
    return world.store.transition(row.id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                                  event="stop-requested", now=world.clock() - timedelta(minutes=minutes_ago),
                                  actor="U-alice")


def test_a_stop_that_went_out_before_the_run_died_is_recorded_as_stopped(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    world.ec2().add(replace(world.ec2().instances["i-idle"], state="stopped"))

    report = reconcile(world.services)

    assert [d.id for d in report.finished] == [row.id]
    stored = world.store.records[row.id]
    assert stored.state is DecisionState.STOPPED and "repair sweep" in (stored.reason or "")
    assert not stored.unpublished and len(world.audit.documents) == 2
    assert world.ec2().stopped == []


def test_a_run_that_died_before_the_stop_is_retried_after_a_recheck(world: FakeWorld) -> None:
    row = interrupted(world, 10)

    reconcile(world.services)

    assert world.store.records[row.id].state is DecisionState.STOPPED and world.ec2().stopped == ["i-idle"]


def test_a_retry_skips_an_instance_exempted_since(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    world.ec2().add(replace(world.ec2().instances["i-idle"], tags={"reaper:exempt": "true"}))

    reconcile(world.services)

    stored = world.store.records[row.id]
    assert stored.state is DecisionState.SKIPPED and stored.reason == "tagged reaper:exempt"
    assert world.ec2().stopped == []


@pytest.mark.parametrize("minutes_ago", [10, 180], ids=["fresh", "too old to retry"])
def test_an_instance_its_owner_started_again_after_the_click_is_never_stopped_again(
    world: FakeWorld, minutes_ago: int
) -> None:
    # StopInstances went through, its outcome write was lost, and the owner started the instance again.
    row = interrupted(world, minutes_ago)
    ec2 = world.ec2()
    ec2.add(replace(ec2.instances["i-idle"], launch_time=world.clock() - timedelta(minutes=2)))

    report = reconcile(world.services)

    stored = world.store.records[row.id]
    assert [d.id for d in report.finished] == [row.id] and stored.state is DecisionState.SKIPPED
    assert stored.reason == "started again after the click (at 1 Dec 08:58 UTC)"
    assert ec2.failures.calls["stop"] == 0 and not stored.unpublished


def test_a_retry_re_checks_as_a_click_does_and_skips_an_instance_busy_since(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    world.metrics[HOME].usage["i-idle"].append(DailyUsage(world.clock().date(), 40.0, 95.0, 0.0, 0.0))

    reconcile(world.services)

    stored = world.store.records[row.id]
    assert stored.state is DecisionState.SKIPPED and stored.reason == "busy since the report (CPU 40 % on 1 Dec)"
    assert world.ec2().stopped == []


def test_an_instance_gone_since_is_recorded_as_skipped(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    del world.ec2().instances["i-idle"]

    reconcile(world.services)

    assert world.store.records[row.id].state is DecisionState.SKIPPED


def test_a_stale_interrupted_stop_is_failed_not_retried(world: FakeWorld) -> None:
    row = interrupted(world, 180)

    reconcile(world.services)

    assert world.store.records[row.id].state is DecisionState.FAILED and world.ec2().stopped == []


def test_a_stop_still_in_flight_is_left_alone(world: FakeWorld) -> None:
    row = interrupted(world, 1)

    report = reconcile(world.services)

    assert report.finished == [] and world.store.records[row.id].state is DecisionState.STOPPING


def test_a_retry_without_an_answer_is_left_for_the_next_sweep(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    world.ec2().failures.fail("stop", StopUnconfirmed("timeout"))

    report = reconcile(world.services)

    assert report.finished == [] and report.errors == []
    assert world.store.records[row.id].state is DecisionState.STOPPING


def test_one_failing_decision_never_stops_the_rest(world: FakeWorld) -> None:
    first = interrupted(world, 10, "i-a")
    second = interrupted(world, 10, "i-b")
    expired = offer(world, "i-c")
    world.clock.now = expired.expires_at + timedelta(minutes=1)
    world.ec2().failures.fail("describe", AwsError("Unavailable", "Unavailable"))

    report = reconcile(world.services)

    assert len(report.errors) == 1 and report.errors[0].endswith("Unavailable")
    assert {d.id for d in report.finished} | {e.split(":")[0] for e in report.errors} == {first.id, second.id}
    assert [d.id for d in report.expired] == [expired.id]


def test_a_bookkeeping_failure_while_publishing_is_counted_and_the_sweep_goes_on(world: FakeWorld) -> None:
    rows = [offer(world, f"i-{n}") for n in range(3)]
    world.audit.failures.fail("put", AwsError("SlowDown"), times=3)
    for row in rows:
        decisions.keep(world.services, row.id, "U-alice")
    world.store.failures.fail("mark_published", AwsError("DynamoDB: ProvisionedThroughputExceededException"))

    report = reconcile(world.services)

    assert (report.published, report.unpublished) == (2, 1)
    assert (reconcile(world.services).published, len(world.audit.documents)) == (1, 3)


def test_rows_it_expired_are_reported_even_when_the_outbox_cannot_be_listed(world: FakeWorld) -> None:
    # Expired rows are never listed again: if the sweep raised here, their buttons would stay live for good.
    row = offer(world)
    world.clock.now = row.expires_at + timedelta(minutes=1)
    world.store.failures.fail("unpublished", AwsError("DynamoDB: ProvisionedThroughputExceededException"))

    report = reconcile(world.services)

    assert [d.id for d in report.expired] == [row.id]
    assert report.errors == ["unpublished decisions not listed: DynamoDB: ProvisionedThroughputExceededException"]
    assert reconcile(world.services).published == 1  # the next sweep publishes what this one could not


def test_stops_it_finished_are_reported_even_when_pending_rows_cannot_be_listed(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    original = world.store.in_state

    def pending_unlisted(state: DecisionState, updated_before: object = None) -> list[Decision]:
        if state is DecisionState.PENDING:
            raise AwsError("DynamoDB: InternalServerError")
        return original(state, updated_before)  # type: ignore[arg-type]

    world.store.in_state = pending_unlisted  # type: ignore[method-assign]

    report = reconcile(world.services)

    assert [d.id for d in report.finished] == [row.id] and world.store.records[row.id].state is DecisionState.STOPPED
    assert report.errors == ["pending rows not listed: DynamoDB: InternalServerError"]


def test_a_row_gone_from_the_table_while_expiring_does_not_stop_the_others(world: FakeWorld) -> None:
    first, second = offer(world, "i-a"), offer(world, "i-b")
    world.clock.now = first.expires_at + timedelta(minutes=1)
    original = world.store.transition

    def first_gone(decision_id: str, **kwargs: object) -> Decision:
        if decision_id == first.id:
            raise DecisionNotFound(decision_id)  # its TTL ran out between the listing and the write
        return original(decision_id, **kwargs)  # type: ignore[arg-type]

    world.store.transition = first_gone  # type: ignore[method-assign]

    report = reconcile(world.services)

    assert [d.id for d in report.expired] == [second.id] and report.errors == [f"{first.id}: {first.id}"]


def test_a_store_that_cannot_be_listed_fails_the_sweep_for_the_next_run_to_retry(world: FakeWorld) -> None:
    row = interrupted(world, 10)
    world.store.failures.fail("in_state", AwsError("DynamoDB: Unavailable"))

    with pytest.raises(AwsError, match="Unavailable"):
        reconcile(world.services)

    assert reconcile(world.services).finished[0].id == row.id


def test_expired_rows_expire_fresh_ones_stay_and_late_clicks_are_told(world: FakeWorld) -> None:
    stale = offer(world, "i-old")
    world.clock.advance(days=2)
    fresh = offer(world, "i-new")
    world.clock.now = stale.expires_at + timedelta(seconds=1)

    report = reconcile(world.services)

    assert [d.id for d in report.expired] == [stale.id]
    assert world.store.records[fresh.id].state is DecisionState.PENDING
    (document,) = world.audit.documents.values()
    assert (document["event"], document["action"], document["actor"]) == ("expired", "expire", None)
    assert decisions.stop(world.services, stale.id, "U-late").outcome is Outcome.EXPIRED


def test_a_click_that_wins_the_race_against_expiry_stands(world: FakeWorld) -> None:
    row = offer(world)
    world.clock.now = row.expires_at + timedelta(seconds=1)
    original = world.store.in_state

    def clicked_meanwhile(state: DecisionState, updated_before: object = None) -> list[Decision]:
        found = original(state, updated_before)  # type: ignore[arg-type]
        if state is DecisionState.PENDING:
            world.store.records[row.id] = replace(world.store.records[row.id], state=DecisionState.KEPT)
        return found

    world.store.in_state = clicked_meanwhile  # type: ignore[method-assign]

    report = reconcile(world.services)

    assert report.expired == [] and world.store.records[row.id].state is DecisionState.KEPT


def test_a_second_sweep_changes_nothing(world: FakeWorld) -> None:
    interrupted(world, 10)
    reconcile(world.services)

    second = reconcile(world.services)

    assert (second.finished, second.expired, second.published, second.unpublished, second.errors) == (
        [], [], 0, 0, [])
