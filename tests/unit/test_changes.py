"""What changed since the last report (reaper.changes), on the fake store: new, still idle, summary, one live row."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reaper import changes, decisions
from reaper.model import Decision, DecisionState, Finding, Outcome, ScanReport
from reaper.scan import find_idle
from tests.fakes.core import HOME, FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(regions=(HOME,))


def report(world: FakeWorld) -> tuple[ScanReport, changes.Changes, list[Finding], list[Decision]]:
    """A scan, judged against the store, its rows offered and recorded (message C1/<now>), then older rows closed."""
    scan = find_idle(world.services)
    judged = changes.what_changed(world.services, scan)
    proposed = judged.order(scan.proposed)
    rows = judged.carry(decisions.propose(world.services, proposed, channel="C1",
                                          message_ts=str(world.clock().timestamp())), proposed)
    decisions.record_rows(world.services, rows)
    changes.supersede(world.services, judged, rows)
    return scan, judged, proposed, rows


def row_of(rows: list[Decision], instance_id: str) -> Decision:
    return next(r for r in rows if r.instance_id == instance_id)


def test_the_first_report_calls_every_row_new_and_counts_one_report(world: FakeWorld) -> None:
    world.launch("i-a")

    _, judged, proposed, rows = report(world)

    assert [judged.is_new(f) for f in proposed] == [True]
    assert rows[0].reports == 1
    # Idle on the 14 days judged, so idle since 14 days before today.
    assert rows[0].idle_since is not None
    assert rows[0].idle_since.date() == world.clock().date() - timedelta(days=14)


def test_a_second_report_groups_new_after_nothing_and_still_idle_with_its_count(world: FakeWorld) -> None:
    world.launch("i-old")
    _, _, _, first = report(world)
    world.clock.advance(days=1)
    world.launch("i-new")

    _, judged, proposed, rows = report(world)

    assert [(f.instance.instance_id, judged.is_new(f)) for f in proposed] == [("i-new", True), ("i-old", False)]
    still = row_of(rows, "i-old")
    assert still.reports == 2
    assert still.idle_since == first[0].idle_since  # carried, not restarted
    assert row_of(rows, "i-new").reports == 1


def test_a_second_report_closes_the_first_reports_pending_row_for_the_same_instance(world: FakeWorld) -> None:
    world.launch("i-old")
    _, _, _, [first] = report(world)
    world.clock.advance(days=1)

    _, _, _, [second] = report(world)

    old = world.store.records[first.id]
    assert (old.state, old.superseded_by) == (DecisionState.SUPERSEDED, second.id)
    assert world.store.records[second.id].state is DecisionState.PENDING
    pending = [d for d in world.store.records.values() if d.state is DecisionState.PENDING]
    assert [d.instance_id for d in pending] == ["i-old"]  # one live row per instance


def test_a_click_on_a_superseded_row_is_refused_and_changes_nothing(world: FakeWorld) -> None:
    world.launch("i-old")
    _, _, _, [first] = report(world)
    world.clock.advance(days=1)
    report(world)

    result = decisions.stop(world.services, first.id, "U-alice", channel=first.channel, message_ts=first.message_ts)

    assert result.outcome is Outcome.SUPERSEDED and result.outcome.refused
    assert "newer report" in result.message
    assert world.ec2().stopped == []


def test_a_row_answered_before_the_newer_report_keeps_its_answer(world: FakeWorld) -> None:
    world.launch("i-old")
    _, _, _, [first] = report(world)
    scan = find_idle(world.services)
    judged = changes.what_changed(world.services, scan)  # read while the row was pending
    decisions.keep(world.services, first.id, "U-bob")  # … then someone answers it

    rows = judged.carry(decisions.propose(world.services, scan.proposed, channel="C1", message_ts="2.2"),
                        scan.proposed)
    closed = changes.supersede(world.services, judged, rows)

    assert closed.closed == [] and closed.errors == []
    assert world.store.records[first.id].state is DecisionState.KEPT


def test_the_summary_counts_stops_keeps_and_busy_again_since_the_last_report(world: FakeWorld) -> None:
    for instance_id in ("i-stop", "i-keep", "i-busy", "i-still"):
        world.launch(instance_id)
    _, _, _, rows = report(world)
    world.clock.advance(hours=2)
    assert decisions.stop(world.services, row_of(rows, "i-stop").id, "U-alice").outcome is Outcome.STOPPED
    assert decisions.keep(world.services, row_of(rows, "i-keep").id, "U-alice").outcome is Outcome.KEPT
    usage = world.metrics[HOME].usage["i-busy"]
    usage[-1] = replace(usage[-1], cpu_percent=80.0, cpu_peak_percent=95.0)
    world.clock.advance(days=1)

    _, judged, proposed, _ = report(world)

    summary = judged.summary
    assert (summary.stopped, summary.kept, summary.busy_again) == (1, 1, ("i-busy",))
    assert summary.since == rows[0].created_at
    assert [f.instance.instance_id for f in proposed] == ["i-still"]


def test_a_quiet_day_says_so(world: FakeWorld) -> None:
    world.launch("i-a")
    report(world)
    world.clock.advance(days=1)

    _, judged, _, _ = report(world)

    assert judged.summary.quiet


# -- with the grace-period stop (reaper.grace) ------------------------------------------------


def report_with_grace(world: FakeWorld) -> list[Decision]:
    """A report as bot.report posts it: judged, counted for the grace period, recorded, older rows closed."""
    from reaper import grace

    scan = find_idle(world.services)
    judged = changes.what_changed(world.services, scan)
    proposed = judged.order(scan.proposed)
    rows = judged.carry(decisions.propose(world.services, proposed, channel="C1",
                                          message_ts=str(world.clock().timestamp())), proposed)
    plan = grace.schedule(world.services, list(zip(proposed, rows, strict=True)))
    decisions.record_rows(world.services, plan.rows)
    changes.supersede(world.services, judged, plan.rows)
    return plan.rows


def test_superseded_rows_count_as_unanswered_for_the_grace_period(world: FakeWorld) -> None:
    world.env["REAPER_AUTO_STOP_AFTER"] = "3"
    world.launch("i-a", cpu=(0.5,) * 35)
    for _ in range(2):
        report_with_grace(world)
        world.clock.advance(days=1)

    [third] = report_with_grace(world)

    assert third.unanswered == 3 and third.auto_stop_at is not None
    states = sorted(d.state.value for d in world.store.records.values())
    assert states == ["pending", "superseded", "superseded"]


def test_an_announced_grace_period_row_stays_live_for_the_sweep(world: FakeWorld) -> None:
    world.env["REAPER_AUTO_STOP_AFTER"] = "1"
    world.launch("i-a", cpu=(0.5,) * 35)
    [announced] = report_with_grace(world)
    assert announced.auto_stop_at is not None
    world.clock.advance(hours=12)

    report_with_grace(world)

    assert world.store.records[announced.id].state is DecisionState.PENDING  # not superseded
