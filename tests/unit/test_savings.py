"""Savings to date on fakes: a stop accrues what it saves until its instance runs again, checked by each scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reaper import decisions, savings
from reaper.errors import AwsError
from reaper.model import Decision, DecisionState
from reaper.money import ComputePrice
from reaper.scan import find_idle
from tests.fakes.core import HOME, FakeClock, FakeWorld

HOURLY = 0.0832
START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld(clock=FakeClock(START))
    world.prices.catalogue[ComputePrice(HOME, "t3.large", "Linux/UNIX")] = HOURLY
    return world


def stopped_by_report(world: FakeWorld, instance_id: str, actor: str = "U-alice") -> Decision:
    """A report row for an idle instance, then a Stop on it."""
    world.launch(instance_id, instance_type="t3.large", platform="Linux/UNIX")
    report = find_idle(world.services, [HOME])
    (row,) = decisions.propose(world.services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])
    result = decisions.stop(world.services, row.id, actor, channel="C1", message_ts="1.1")
    assert result.decision is not None and result.decision.state is DecisionState.STOPPED
    return result.decision


def test_the_row_records_what_a_stop_would_save_and_the_stop_keeps_it(world: FakeWorld) -> None:
    stop = stopped_by_report(world, "i-dev")

    assert stop.hourly_saving == pytest.approx(HOURLY)


def test_a_stop_accrues_for_as_long_as_the_instance_stays_stopped(world: FakeWorld) -> None:
    stopped_by_report(world, "i-dev")

    world.clock.advance(days=10)
    summary = savings.summary(world.services)

    assert summary.total == pytest.approx(HOURLY * 240)
    assert (summary.stops, summary.accruing, summary.unpriced) == (1, 1, 0)


def test_a_restart_ends_the_accrual_at_its_launch_time(world: FakeWorld) -> None:
    stop = stopped_by_report(world, "i-dev")
    restarted = START + timedelta(days=3)
    world.ec2().start("i-dev", restarted)

    world.clock.advance(days=5)
    find_idle(world.services, [HOME])  # the report sees it running again
    world.clock.advance(days=5)
    summary = savings.summary(world.services)

    assert world.store.records[stop.id].saving_ended_at == restarted
    assert summary.total == pytest.approx(HOURLY * 72)
    assert summary.accruing == 0


def test_a_restart_seen_twice_ends_the_accrual_once(world: FakeWorld) -> None:
    stop = stopped_by_report(world, "i-dev")
    world.ec2().start("i-dev", START + timedelta(days=1))
    world.clock.advance(days=2)
    find_idle(world.services, [HOME])

    world.ec2().start("i-dev", START + timedelta(days=2))  # stopped and started again by hand since
    find_idle(world.services, [HOME])

    assert world.store.records[stop.id].saving_ended_at == START + timedelta(days=1)


def test_this_month_counts_from_the_first_of_the_month(world: FakeWorld) -> None:
    stopped_by_report(world, "i-dev")  # 10 December, 09:00

    world.clock.now = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
    summary = savings.summary(world.services)

    assert summary.this_month == pytest.approx(HOURLY * 33)  # 1 January 00:00 → 2 January 09:00
    assert summary.total == pytest.approx(HOURLY * (23 * 24))


def test_savings_are_told_by_approver(world: FakeWorld) -> None:
    stopped_by_report(world, "i-alice", "U-alice")
    world.clock.advance(hours=1)
    stopped_by_report(world, "i-bob", "U-bob")

    world.clock.advance(hours=10)
    summary = savings.summary(world.services)

    assert summary.by_approver == pytest.approx({"U-alice": HOURLY * 11, "U-bob": HOURLY * 10})


def test_a_stop_without_a_known_saving_is_counted_apart_not_as_zero(world: FakeWorld) -> None:
    world.launch("i-mystery", instance_type="t3.large")  # no PlatformDetails: no price
    result = decisions.stop_instance(world.services, "i-mystery", "cli:carol", HOME)
    assert result.decision is not None and result.decision.hourly_saving is None

    world.clock.advance(days=1)
    summary = savings.summary(world.services)

    assert (summary.stops, summary.unpriced, summary.total) == (1, 1, 0.0)
    assert summary.to_json()["stops_without_price"] == 1


def test_a_stop_asked_for_directly_is_priced_too(world: FakeWorld) -> None:
    world.launch("i-dev", instance_type="t3.large", platform="Linux/UNIX")

    result = decisions.stop_instance(world.services, "i-dev", "cli:carol", HOME)

    assert result.decision is not None and result.decision.hourly_saving == pytest.approx(HOURLY)


def test_the_report_carries_the_savings_so_far(world: FakeWorld) -> None:
    stopped_by_report(world, "i-dev")
    world.clock.advance(days=1)

    report = find_idle(world.services, [HOME])

    assert report.savings is not None and report.savings.this_month == pytest.approx(HOURLY * 24)
    assert report.to_json()["savings"]["this_month_usd"] == pytest.approx(HOURLY * 24, abs=0.01)


def test_a_store_that_cannot_list_the_stops_leaves_the_savings_unknown_not_the_scan(world: FakeWorld) -> None:
    world.launch("i-dev", instance_type="t3.large", platform="Linux/UNIX")
    world.store.failures.fail("in_state", AwsError("DynamoDB: ProvisionedThroughputExceededException"))

    report = find_idle(world.services, [HOME])

    assert report.savings is None and report.proposed and report.to_json()["savings"] is None
