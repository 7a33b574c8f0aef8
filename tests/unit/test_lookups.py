"""Look-ups once, not daily (issue 20): remembered between scans, refreshed when expired, paced, and
never trusted by the click's re-check. On fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reaper import decisions, lookups
from reaper.errors import AwsError
from reaper.lookups import Pace, Remembered
from reaper.model import DecisionState, Outcome, SkipReason
from reaper.scan import find_idle
from tests.fakes.core import HOME, OTHER, START, FakeWorld

LOOKUP_CALLS = ("stop_protected", "persistent_spot_requests", "instance_types_with_local_disks")


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld()
    for region in (HOME, OTHER):
        world.launch(f"i-idle-{region}", region=region)
        world.launch(f"i-protected-{region}", region=region)
        world.ec2(region).protected.add(f"i-protected-{region}")
        world.launch(f"i-spot-{region}", region=region, lifecycle="spot", spot_request_id=f"sir-{region}")
        world.launch(f"i-busy-{region}", region=region, cpu=(50.0,) * 14)
    return world


def look_ups(world: FakeWorld) -> dict[str, int]:
    return {op: sum(world.ec2(r).failures.calls[op] for r in (HOME, OTHER)) for op in LOOKUP_CALLS}


def eligibility(report):  # type: ignore[no-untyped-def]
    return [(f.instance.instance_id, f.proposed, f.skip) for f in report.findings]


class CountingCache:
    """Counts the reads and writes the scan makes of the world's cache."""

    def __init__(self, world: FakeWorld) -> None:
        assert world.cache is not None
        self.inner, self.reads, self.writes = world.cache, 0, 0
        world.cache = self  # type: ignore[assignment]

    def get_many(self, keys):  # type: ignore[no-untyped-def]
        self.reads += 1
        return self.inner.get_many(keys)

    def put_many(self, items, ttl):  # type: ignore[no-untyped-def]
        self.writes += 1
        self.inner.put_many(items, ttl)


def test_the_second_scan_of_an_unchanged_fleet_asks_ec2_nothing_and_reports_the_same(world: FakeWorld) -> None:
    first = find_idle(world.services)
    asked = look_ups(world)
    assert asked == {"stop_protected": 4, "persistent_spot_requests": 2, "instance_types_with_local_disks": 2}
    cache = CountingCache(world)

    world.clock.advance(days=1)
    second = find_idle(world.services)

    assert look_ups(world) == asked  # not one more look-up
    assert (cache.reads, cache.writes) == (1, 0)  # one read for both regions, nothing to write
    assert eligibility(second) == eligibility(first)
    assert second.eligibility_lookups == {
        "stop_protection_cached": 4, "stop_protection_asked": 0, "spot_request_cached": 2, "spot_request_asked": 0,
        "instance_type_cached": 2, "instance_type_asked": 0, "not_yet_checked": 0}


def test_expired_answers_are_asked_again_and_only_they(world: FakeWorld) -> None:
    find_idle(world.services)
    world.launch("i-new-idle")  # idle since, never asked

    world.clock.advance(days=2)
    find_idle(world.services)
    assert look_ups(world)["stop_protected"] == 5  # the new one only

    world.clock.advance(days=3)  # 5 days after the first scan (3 + under 2), 3 after the new one's
    report = find_idle(world.services)

    assert look_ups(world)["stop_protected"] == 9  # the first scan's four again, not the new one's
    assert look_ups(world)["persistent_spot_requests"] == 4
    assert look_ups(world)["instance_types_with_local_disks"] == 2  # a type's disks are kept 30 days
    assert report.eligibility_lookups is not None and report.eligibility_lookups["stop_protection_cached"] == 1


def test_a_change_of_stop_protection_shows_once_the_answer_expires(world: FakeWorld) -> None:
    find_idle(world.services, [HOME])
    world.ec2(HOME).protected.discard(f"i-protected-{HOME}")

    world.clock.advance(days=1)
    cached = {f.instance.instance_id for f in find_idle(world.services, [HOME]).proposed}
    world.clock.advance(days=5)
    refreshed = {f.instance.instance_id for f in find_idle(world.services, [HOME]).proposed}

    assert f"i-protected-{HOME}" not in cached
    assert f"i-protected-{HOME}" in refreshed


def test_stop_protection_expires_between_3_and_5_days_spread_by_instance() -> None:
    memory = Remembered(HOME, START)
    memory.learn(lookups.PROTECTION, {f"i-{n:04d}": False for n in range(200)})
    lives = [timedelta(seconds=expiry - START.timestamp()) for _, expiry in memory.protected.values()]

    assert all(timedelta(days=3) <= life < timedelta(days=5) for life in lives)
    assert max(lives) - min(lives) > timedelta(days=1)  # not all on the same daily scan


def test_look_ups_past_the_time_budget_leave_the_row_offered_and_saying_not_yet_checked(world: FakeWorld) -> None:
    world.env["REAPER_LOOKUP_SECONDS"] = "0"

    report = find_idle(world.services, [HOME])

    assert world.ec2().failures.calls["stop_protected"] == 0
    offered = {f.instance.instance_id: f for f in report.proposed}
    assert set(offered) == {f"i-idle-{HOME}", f"i-protected-{HOME}"}  # the click will ask
    assert all(f.caveat == "stop protection not yet checked" for f in offered.values())
    assert offered[f"i-idle-{HOME}"].to_json()["caveat"] == "stop protection not yet checked"
    assert report.eligibility_lookups is not None and report.eligibility_lookups["not_yet_checked"] == 2
    assert SkipReason.NOT_YET_CHECKED not in report.skipped_by_reason()

    world.env.pop("REAPER_LOOKUP_SECONDS")
    world.clock.advance(days=1)
    later = find_idle(world.services, [HOME])  # the missing answers are asked the next time
    assert world.ec2().failures.calls["stop_protected"] == 2
    assert [f.instance.instance_id for f in later.proposed] == [f"i-idle-{HOME}"]
    assert all(f.caveat is None for f in later.findings)


def test_a_remembered_answer_needs_no_budget(world: FakeWorld) -> None:
    find_idle(world.services, [HOME])
    world.env["REAPER_LOOKUP_SECONDS"] = "0"
    world.clock.advance(days=1)

    report = find_idle(world.services, [HOME])

    assert [f.instance.instance_id for f in report.proposed] == [f"i-idle-{HOME}"]
    assert all(f.caveat is None for f in report.findings)


def test_the_click_re_check_asks_ec2_whatever_the_cache_says(world: FakeWorld) -> None:
    report = find_idle(world.services, [HOME])
    (finding,) = [f for f in report.proposed if f.instance.instance_id == f"i-idle-{HOME}"]
    world.ec2().protected.add(f"i-idle-{HOME}")  # turned on after the scan: the cache says "not protected"
    (row,) = decisions.propose(world.services, [finding], channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])
    asked = world.ec2().failures.calls["stop_protected"]

    result = decisions.stop(world.services, row.id, "U-alice", channel="C1", message_ts="1.1")

    assert world.ec2().failures.calls["stop_protected"] == asked + 1
    assert result.outcome is Outcome.SKIPPED and result.decision is not None
    assert result.decision.state is DecisionState.SKIPPED and result.decision.reason == "stop protection is enabled"
    assert world.ec2().stopped == []


def test_a_row_not_yet_checked_is_stopped_only_after_the_click_checks(world: FakeWorld) -> None:
    world.env["REAPER_LOOKUP_SECONDS"] = "0"
    report = find_idle(world.services, [HOME])
    rows = decisions.propose(world.services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, rows)
    by_instance = {row.instance_id: row for row in rows}

    protected = decisions.stop(world.services, by_instance[f"i-protected-{HOME}"].id, "U-alice",
                               channel="C1", message_ts="1.1")
    plain = decisions.stop(world.services, by_instance[f"i-idle-{HOME}"].id, "U-alice",
                           channel="C1", message_ts="1.1")

    assert protected.outcome is Outcome.SKIPPED
    assert plain.outcome is Outcome.STOPPED
    assert world.ec2().stopped == [f"i-idle-{HOME}"]


def test_a_failed_look_up_is_not_remembered(world: FakeWorld) -> None:
    world.ec2().failures.fail("stop_protected", AwsError("Rate exceeded", "RequestLimitExceeded"), times=2)
    first = find_idle(world.services, [HOME])
    assert {f.skip.reason for f in first.skipped if f.skip} >= {SkipReason.UNCHECKED}

    world.clock.advance(days=1)
    second = find_idle(world.services, [HOME])

    assert world.ec2().failures.calls["stop_protected"] == 4
    assert [f.instance.instance_id for f in second.proposed] == [f"i-idle-{HOME}"]


def test_an_unreadable_cache_costs_the_look_ups_not_the_report(world: FakeWorld) -> None:
    find_idle(world.services, [HOME])
    assert world.cache is not None
    world.cache.failures.fail("get_many", AwsError("throttled", "ProvisionedThroughputExceededException"))

    report = find_idle(world.services, [HOME])

    assert world.ec2().failures.calls["stop_protected"] == 4
    assert [f.instance.instance_id for f in report.proposed] == [f"i-idle-{HOME}"]


def test_a_large_region_spreads_its_answers_over_items_read_back_in_two_reads() -> None:
    world = FakeWorld(regions=(HOME,))
    memory = Remembered(HOME, START)
    answers = {f"i-{n:05d}": n % 7 == 0 for n in range(lookups.SHARD_ENTRIES * 2 + 5)}
    memory.learn(lookups.PROTECTION, answers)
    lookups.save(world.cache, [memory])
    cache = CountingCache(world)

    loaded = lookups.load(world.services.cache, [HOME], START)[HOME]

    assert cache.reads == 2
    assert loaded.known(lookups.PROTECTION, answers) == answers
    assert world.cache is not None


def test_items_of_another_layout_are_misses() -> None:
    world = FakeWorld(regions=(HOME,))
    assert world.cache is not None
    world.cache.put_many({"lookups#" + HOME: {"format": 0, "protected": {"i-1": [1, 2**40]}}}, timedelta(days=1))

    loaded = lookups.load(world.cache, [HOME], START)[HOME]

    assert loaded.known(lookups.PROTECTION, ["i-1"]) == {}


class Ticking:
    """A monotonic clock that only moves when slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pace_allows_its_burst_then_its_rate_and_never_more() -> None:
    clock = Ticking()
    pace = Pace(deadline=100.0, rate=10.0, burst=20, clock=clock, sleep=clock.sleep)

    granted = [clock() for _ in range(220) if pace.take()]

    assert len(granted) == 220
    assert granted[19] == 0.0 and granted[20] == pytest.approx(0.1)
    assert clock.now == pytest.approx(20.0)  # 200 after the burst at 10 a second
    # In any window of one second, at most burst + rate look-ups: EC2's bucket (100, 20/s) never empties.
    assert max(sum(1 for t in granted if s <= t < s + 1.0) for s in granted) <= 30


def test_the_pace_says_no_once_its_deadline_would_pass() -> None:
    clock = Ticking()
    pace = Pace(deadline=1.0, rate=10.0, burst=5, clock=clock, sleep=clock.sleep)

    answers = [pace.take() for _ in range(30)]

    assert answers.count(True) == 15  # 5 at once, then 10 within the second
    assert clock.now <= 1.0


def test_the_slack_row_and_the_terminal_say_what_was_not_yet_checked(world: FakeWorld) -> None:
    import io

    from bot.blocks import row_blocks
    from reaper.cli import print_report

    world.env["REAPER_LOOKUP_SECONDS"] = "0"
    report = find_idle(world.services, [HOME])
    finding = next(f for f in report.proposed if f.instance.instance_id == f"i-idle-{HOME}")
    (row,) = decisions.propose(world.services, [finding], channel="C1", message_ts="1.1")

    section = row_blocks(finding, row, world.clock())[0]
    out = io.StringIO()
    print_report(report, 14, out)

    assert "stop protection not yet checked (Stop checks it first)" in section["text"]["text"]
    assert "Stop protection not yet checked for 2 of them" in out.getvalue()


def test_a_budget_of_nothing_grants_nothing_even_with_a_full_bucket() -> None:
    clock = Ticking()
    pace = Pace(deadline=clock(), clock=clock, sleep=clock.sleep)

    assert not pace.take() and clock.slept == []
