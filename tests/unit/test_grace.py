"""The grace-period stop (issue 15, part 4) on in-memory fakes: counting unanswered reports, the announcement,
what calls it off, and the sweep carrying it out once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reaper import decisions, grace, sweep
from reaper.model import DailyUsage, DecisionState, Outcome
from reaper.scan import find_idle
from tests.fakes.core import HOME, FakeWorld

MONTH_AND_MORE = (0.5,) * 35  # idle, with more than 30 days of CloudWatch history


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld(regions=(HOME,))
    world.env["REAPER_AUTO_STOP_AFTER"] = "2"
    return world


def report(world: FakeWorld, ts: str = "1.1") -> grace.Schedule:
    """A report as bot.report posts it: rows proposed, scheduled, recorded with their message."""
    scanned = find_idle(world.services)
    rows = decisions.propose(world.services, scanned.proposed, channel="C1", message_ts=ts)
    plan = grace.schedule(world.services, list(zip(scanned.proposed, rows, strict=True)))
    decisions.record_rows(world.services, plan.rows)
    return plan


def daily_reports(world: FakeWorld, n: int) -> grace.Schedule:
    plan = report(world, "0.0")
    for day in range(1, n):
        world.clock.advance(days=1)
        plan = report(world, f"{day}.0")
    return plan


# -- counting and announcing ------------------------------------------------------------------------


def test_off_by_default_nothing_is_counted_or_announced(world: FakeWorld) -> None:
    del world.env["REAPER_AUTO_STOP_AFTER"]
    world.launch("i-idle", cpu=MONTH_AND_MORE)

    plan = daily_reports(world, 4)

    assert plan.announced == [] and [r.auto_stop_at for r in plan.rows] == [None]


def test_the_report_that_makes_it_n_announces_a_deadline_24_hours_ahead(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=MONTH_AND_MORE)

    first = report(world)
    world.clock.advance(days=1)
    second = report(world, "2.2")

    assert first.announced == [] and first.rows[0].unanswered == 1
    (announced,) = second.announced
    assert announced.unanswered == 2 and announced.auto_stop_at == world.clock() + timedelta(hours=24)
    assert announced.expires_at >= announced.auto_stop_at + grace.LATE_BY  # still clickable at the deadline
    assert world.store.records[announced.id].auto_stop_at == announced.auto_stop_at


def test_a_keep_ends_the_count(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    first = report(world)
    decisions.keep(world.services, first.rows[0].id, "U-bob", days=1)
    world.clock.advance(days=2)  # the Keep has expired: offered again

    plan = report(world)

    assert plan.rows[0].unanswered == 1 and plan.announced == []


def test_a_stop_that_was_skipped_is_an_answer_too(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    world.env["REAPER_AUTO_STOP_AFTER"] = "3"
    rows = daily_reports(world, 2).rows
    world.metrics[HOME].usage["i-idle"].append(DailyUsage(world.clock().date(), 90.0, 99.0, 0.0, 0.0))
    assert decisions.stop(world.services, rows[0].id, "U-bob").outcome is Outcome.SKIPPED
    world.metrics[HOME].usage["i-idle"].pop()
    world.clock.advance(days=1)

    plan = report(world)

    assert plan.rows[0].unanswered == 1


def test_reports_further_apart_than_the_lookback_window_are_not_consecutive(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=(0.5,) * 60)
    report(world)
    world.clock.advance(days=15)  # the lookback is 14 days
    world.launch("i-idle", cpu=(0.5,) * 60)  # its data up to the new yesterday

    plan = report(world)

    assert plan.rows[0].unanswered == 1 and plan.announced == []


def test_an_instance_already_announced_is_not_announced_again(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    daily_reports(world, 2)
    world.clock.advance(hours=6)

    plan = report(world)

    assert plan.rows[0].unanswered == 3 and plan.announced == []


def test_the_tag_opts_an_instance_out_or_in(world: FakeWorld) -> None:
    del world.env["REAPER_AUTO_STOP_AFTER"]
    world.launch("i-in", cpu=MONTH_AND_MORE, tags={"Reaper:Auto-Stop": "TRUE"})
    world.launch("i-out", cpu=MONTH_AND_MORE, tags={"reaper:auto-stop": "false"})

    plan = daily_reports(world, 3)

    assert [d.instance_id for d in plan.announced] == ["i-in"]  # the default of 3 when the setting is off
    world.env["REAPER_AUTO_STOP_AFTER"] = "1"
    world.clock.advance(days=2)
    assert "i-out" not in [d.instance_id for d in report(world).announced]


def test_less_than_30_days_of_history_is_refused_whatever_the_lookback(world: FakeWorld) -> None:
    world.launch("i-young", cpu=(0.5,) * 20)

    plan = daily_reports(world, 2)

    assert plan.announced == []
    ((row, why),) = plan.refused
    assert row.instance_id == "i-young" and why == "less than 30 days of CloudWatch history"


def test_history_is_read_with_one_extra_query_unless_the_scans_evidence_proves_it(world: FakeWorld) -> None:
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    report(world)
    world.clock.advance(days=1)
    before = world.metrics[HOME].failures.calls["daily_usage"]
    assert report(world).announced
    assert world.metrics[HOME].failures.calls["daily_usage"] - before == 2  # the scan's read, the history's

    long = FakeWorld(regions=(HOME,), env={"REAPER_AUTO_STOP_AFTER": "2", "REAPER_LOOKBACK_DAYS": "32"})
    long.launch("i-idle", cpu=MONTH_AND_MORE)
    report(long)
    long.clock.advance(days=1)
    before = long.metrics[HOME].failures.calls["daily_usage"]
    assert report(long).announced
    assert long.metrics[HOME].failures.calls["daily_usage"] - before == 1  # 30+ observed days: the scan's read


# -- at the deadline --------------------------------------------------------------------------------


def announced(world: FakeWorld) -> str:
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    (row,) = daily_reports(world, 2).announced
    return row.id


def test_the_sweep_stops_it_at_the_deadline_once_as_the_reaper(world: FakeWorld) -> None:
    row_id = announced(world)
    world.clock.advance(hours=23, minutes=59)
    assert sweep.reconcile(world.services).auto_stopped == [] and world.ec2().stopped == []
    world.clock.advance(minutes=1)

    first = sweep.reconcile(world.services)
    world.clock.advance(minutes=15)
    second = sweep.reconcile(world.services)

    assert [d.id for d in first.auto_stopped] == [row_id] and second.auto_stopped == []
    assert world.ec2().stopped == ["i-idle"]
    stored = world.store.records[row_id]
    assert (stored.state, stored.actor) == (DecisionState.STOPPED, "reaper (unanswered for 2 reports)")
    assert [e["event"] for e in stored.events] == ["stop-requested", "stopped"]
    assert any(d["actor"] == "reaper (unanswered for 2 reports)" for d in world.audit.documents.values())


def test_a_keep_on_the_announced_row_cancels_it(world: FakeWorld) -> None:
    row_id = announced(world)
    decisions.keep(world.services, row_id, "U-bob")
    world.clock.advance(hours=24)

    assert sweep.reconcile(world.services).auto_stopped == [] and world.ec2().stopped == []


def test_a_keep_on_an_earlier_row_cancels_it_and_leaves_the_row_clickable(world: FakeWorld) -> None:
    row_id = announced(world)
    earlier = next(d for d in world.store.records.values() if d.id != row_id)
    decisions.keep(world.services, earlier.id, "U-bob", channel="C1", message_ts="0.0")
    world.clock.advance(hours=24)

    assert sweep.reconcile(world.services).auto_stopped == [] and world.ec2().stopped == []
    assert world.store.records[row_id].state is DecisionState.PENDING


def test_an_instance_busy_since_the_report_is_not_stopped(world: FakeWorld) -> None:
    row_id = announced(world)
    world.clock.advance(hours=24)
    world.metrics[HOME].usage["i-idle"].append(DailyUsage(world.clock().date(), 60.0, 95.0, 0.0, 0.0))

    report_ = sweep.reconcile(world.services)

    assert world.ec2().stopped == []
    stored = world.store.records[row_id]
    assert stored.state is DecisionState.SKIPPED and str(stored.reason).startswith("busy since the report")
    assert [d.id for d in report_.auto_stopped] == [row_id]  # settled: its row shows why


def test_opting_out_by_tag_after_the_announcement_calls_it_off(world: FakeWorld) -> None:
    from dataclasses import replace
    from types import MappingProxyType

    row_id = announced(world)
    ec2 = world.ec2()
    ec2.instances["i-idle"] = replace(ec2.instances["i-idle"], tags=MappingProxyType({"reaper:auto-stop": "false"}))
    world.clock.advance(hours=24)

    assert sweep.reconcile(world.services).auto_stopped == [] and ec2.stopped == []
    assert world.store.records[row_id].state is DecisionState.PENDING


def test_a_sweep_more_than_an_hour_late_drops_it(world: FakeWorld) -> None:
    announced(world)
    world.clock.advance(hours=25, minutes=1)

    assert sweep.reconcile(world.services).auto_stopped == [] and world.ec2().stopped == []


def test_in_a_dry_run_it_would_stop_and_stops_nothing(world: FakeWorld) -> None:
    world.env["REAPER_DRY_RUN"] = "true"
    row_id = announced(world)
    world.clock.advance(hours=24)

    sweep.reconcile(world.services)

    assert world.ec2().stopped == [] and world.ec2().dry_runs == ["i-idle"]
    assert world.store.records[row_id].state is DecisionState.WOULD_STOP


def test_a_click_before_the_deadline_wins_and_the_sweep_does_nothing(world: FakeWorld) -> None:
    row_id = announced(world)
    decisions.stop(world.services, row_id, "U-carol")
    world.clock.advance(hours=24)

    assert sweep.reconcile(world.services).auto_stopped == []
    assert world.ec2().stopped == ["i-idle"] and world.store.records[row_id].actor == "U-carol"


# -- what Slack shows ---------------------------------------------------------------------------------


def test_the_row_and_the_thread_say_when_it_will_be_stopped(world: FakeWorld) -> None:
    from bot.blocks import grace_announcement, report_messages

    world.launch("i-idle", cpu=MONTH_AND_MORE, tags={"Name": "forgotten"})
    world.launch("i-young", cpu=(0.5,) * 20)
    report(world)
    world.clock.advance(days=1)  # 09:00 UTC
    scanned = find_idle(world.services)
    rows = decisions.propose(world.services, scanned.proposed, channel=None, message_ts=None)
    plan = grace.schedule(world.services, list(zip(scanned.proposed, rows, strict=True)))

    (message,) = report_messages(scanned, list(zip(scanned.proposed, plan.rows, strict=True)), world.clock())
    thread = grace_announcement(plan.announced, plan.refused, world.clock())

    sentence = "Unanswered in 2 reports: will be stopped at 09:00 UTC tomorrow unless someone presses Keep"
    row = next(b for b in message.blocks if b.get("block_id") == f"row:{plan.announced[0].id}")
    assert sentence in row["text"]["text"]
    text = thread.blocks[0]["text"]["text"]
    assert "`i-idle` forgotten us-east-1: " + sentence in text
    assert "`i-young`: less than 30 days of CloudWatch history" in text
    dry = grace_announcement(plan.announced, [], world.clock(), dry_run=True).blocks[0]["text"]["text"]
    assert "would be stopped (DRY RUN: nothing is stopped) at 09:00 UTC tomorrow" in dry


# -- the settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("off", None), ("0", None), ("2", 2), ("30", 30)])
def test_auto_stop_after_is_off_or_a_number_of_reports(raw: str, expected: int | None) -> None:
    from reaper.settings import Settings

    assert Settings.from_env({"AWS_REGION": HOME, "REAPER_AUTO_STOP_AFTER": raw}).auto_stop_after == expected


@pytest.mark.parametrize(("variable", "raw", "message"), [
    ("REAPER_AUTO_STOP_AFTER", "soon", "REAPER_AUTO_STOP_AFTER: 'soon' is not a whole number"),
    ("REAPER_AUTO_STOP_AFTER", "31", "REAPER_AUTO_STOP_AFTER: 31 is above the maximum of 30"),
    ("REAPER_DRY_RUN", "maybe", "REAPER_DRY_RUN: 'maybe' is neither on nor off"),
])
def test_a_bad_value_names_its_variable(variable: str, raw: str, message: str) -> None:
    from reaper.errors import SettingsError
    from reaper.settings import Settings

    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env({"AWS_REGION": HOME, variable: raw})


def test_an_instance_stopped_before_the_deadline_by_a_stop_on_an_earlier_row_is_left_alone(world: FakeWorld) -> None:
    row_id = announced(world)
    earlier = next(d for d in world.store.records.values() if d.id != row_id)
    decisions.stop(world.services, earlier.id, "U-carol")
    world.clock.advance(hours=24)

    assert sweep.reconcile(world.services).auto_stopped == []
    assert world.ec2().stopped == ["i-idle"] and world.store.records[row_id].state is DecisionState.PENDING


def test_a_store_that_cannot_list_earlier_rows_never_fails_the_report(world: FakeWorld) -> None:
    from reaper.errors import AwsError

    world.launch("i-idle", cpu=MONTH_AND_MORE)
    report(world)
    world.clock.advance(days=1)
    scanned = find_idle(world.services)
    rows = decisions.propose(world.services, scanned.proposed, channel="C1", message_ts="2.2")
    world.store.failures.fail("in_state", AwsError("DynamoDB: throttled", "ProvisionedThroughputExceededException"))

    plan = grace.schedule(world.services, list(zip(scanned.proposed, rows, strict=True)))

    assert plan.announced == [] and plan.rows == rows


def test_sweeps_and_a_click_racing_at_the_deadline_stop_it_exactly_once(world: FakeWorld) -> None:
    import threading

    row_id = announced(world)
    world.clock.advance(hours=24)
    start = threading.Barrier(5)
    results: list[object] = []

    def sweep_once() -> None:
        start.wait()
        results.append(sweep.reconcile(world.services).auto_stopped)

    def click() -> None:
        start.wait()
        results.append(decisions.stop(world.services, row_id, "U-carol").outcome)

    threads = [threading.Thread(target=sweep_once) for _ in range(4)] + [threading.Thread(target=click)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert world.ec2().stopped == ["i-idle"]
    assert world.store.records[row_id].state is DecisionState.STOPPED and len(world.store.records[row_id].events) == 2


def test_an_owners_direct_message_copy_of_a_row_is_not_another_unanswered_report(world: FakeWorld) -> None:
    world.env["REAPER_AUTO_STOP_AFTER"] = "3"
    world.launch("i-idle", cpu=MONTH_AND_MORE)
    first = report(world)
    world.clock.advance(minutes=1)  # the owner's DM goes out after the channel report, as bot.report sends it
    scanned = find_idle(world.services)
    copies = decisions.propose(world.services, scanned.proposed, channel="D-owner", message_ts="1.2")
    decisions.record_rows(world.services, [replace(d, copy_of=first.rows[0].id) for d in copies])
    world.clock.advance(days=1)

    second = report(world, "2.2")

    assert second.rows[0].unanswered == 2 and second.announced == []  # two reports, not three
