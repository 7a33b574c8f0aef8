"""The scan on fakes: every instance judged, look-ups only for idle ones, failures kept to their region."""

from __future__ import annotations

import pytest

from reaper.errors import AwsError, AwsUnavailable
from reaper.model import SkipReason, VerdictKind
from reaper.scan import find_idle
from tests.fakes.core import HOME, OTHER, FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def test_each_instance_gets_its_verdict_in_every_region(world: FakeWorld) -> None:
    world.launch("i-idle")
    world.launch("i-busy", cpu=(50.0,) * 14)
    world.launch("i-new", cpu=(None,) * 12 + (0.5, 0.5))
    world.launch("i-far", region=OTHER)

    report = find_idle(world.services)

    kinds = {f.instance.instance_id: f.verdict.kind for f in report.findings}
    assert kinds == {"i-idle": VerdictKind.IDLE, "i-busy": VerdictKind.BUSY,
                     "i-new": VerdictKind.INSUFFICIENT_DATA, "i-far": VerdictKind.IDLE}
    assert [f.instance.instance_id for f in report.proposed] == ["i-far", "i-idle"]
    assert report.regions == (HOME, OTHER) and report.errors == {}


def test_only_idle_candidates_cost_a_stop_protection_look_up(world: FakeWorld) -> None:
    world.launch("i-idle")
    world.launch("i-busy", cpu=(50.0,) * 14)
    world.launch("i-exempt", tags={"reaper:exempt": "true"})

    find_idle(world.services, [HOME])

    assert world.ec2().failures.calls["stop_protected"] == 1


def test_a_kept_instance_is_skipped_without_a_look_up(world: FakeWorld) -> None:
    from reaper import decisions
    from tests.unit.test_decisions import offer

    row = offer(world, "i-kept")
    decisions.keep(world.services, row.id, "U-carol")
    calls_before = world.ec2().failures.calls["stop_protected"]

    report = find_idle(world.services, [HOME])

    (finding,) = report.skipped
    assert finding.skip is not None and finding.skip.reason is SkipReason.KEPT
    assert world.ec2().failures.calls["stop_protected"] == calls_before


def test_a_region_that_fails_is_reported_and_the_others_stand(world: FakeWorld) -> None:
    world.launch("i-home")
    world.launch("i-far", region=OTHER)
    world.metrics[OTHER].failures.fail("daily_usage", AwsError("Throttling: slow down", "Throttling"))

    report = find_idle(world.services)

    assert report.errors == {OTHER: "Throttling: slow down"}
    assert [f.instance.instance_id for f in report.findings] == ["i-home"]


def test_a_describe_that_fails_fails_its_region_only(world: FakeWorld) -> None:
    world.launch("i-home")
    world.launch("i-far", region=OTHER)
    world.ec2(HOME).failures.fail("running_pages", AwsError("AuthFailure", "AuthFailure"))

    report = find_idle(world.services)

    assert report.errors == {HOME: "AuthFailure"}
    assert [f.instance.instance_id for f in report.findings] == ["i-far"]


def test_every_region_failing_is_an_error_not_an_empty_report(world: FakeWorld) -> None:
    for region in (HOME, OTHER):
        world.ec2(region).failures.fail("running_pages", AwsError("no route", None))

    with pytest.raises(AwsUnavailable, match="no route"):
        find_idle(world.services)


def test_a_failed_look_up_marks_only_its_instance_and_the_report_stands(world: FakeWorld) -> None:
    world.launch("i-a")
    world.launch("i-b")
    world.ec2().failures.fail("stop_protected", AwsError("throttled", "RequestLimitExceeded"))

    report = find_idle(world.services, [HOME])

    assert report.errors == {}
    assert len(report.proposed) == 1
    (skipped,) = report.skipped
    assert skipped.skip is not None and skipped.skip.text == "could not check: RequestLimitExceeded"


def test_a_region_with_several_pages_and_chunks_is_judged_whole(world: FakeWorld) -> None:
    world.ec2().page_size = 3
    # Pages and chunks are the point here, not look-ups: paced at 10 a second in real time, 1 200
    # of them would spend the whole minute's budget. With none granted, every row is still offered.
    world.env["REAPER_LOOKUP_SECONDS"] = "0"
    for n in range(1200):
        world.ec2().add(world.launch(f"i-{n:04d}", cpu=(0.5,) * 3))

    report = find_idle(world.services, [HOME])

    assert len(report.findings) == 1200 and len(report.proposed) == 1200
    assert (report.eligibility_lookups or {}).get("not_yet_checked") == 1200
    assert world.metrics[HOME].failures.calls["daily_usage"] == 3  # chunks of 500


def test_progress_is_reported_per_region(world: FakeWorld) -> None:
    world.launch("i-home")
    said: list[str] = []

    find_idle(world.services, [HOME], progress=said.append)

    assert said == [f"{HOME}: 1 running instances", f"{HOME}: utilisation read for 1 instances"]


def test_a_region_named_twice_is_scanned_once(world: FakeWorld) -> None:
    world.launch("i-idle")

    report = find_idle(world.services, [HOME, HOME])

    assert report.regions == (HOME,) and [f.instance.instance_id for f in report.findings] == ["i-idle"]
    assert world.ec2().failures.calls["running_pages"] == 1
