"""`python -m reaper` on in-memory fakes: what the commands refuse, say and pass on to the use cases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from reaper import cli
from reaper.model import DecisionState
from tests.fakes.core import HOME, OTHER, FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def test_stop_refuses_a_busy_instance_in_one_line_and_stops_it_with_force(
    world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.launch("i-busy", cpu=(50.0,) * 14)

    refused = cli.main(["stop", "i-busy"], world.services)
    err = capsys.readouterr().err

    assert refused == 2 and world.ec2().stopped == [] and world.store.records == {}
    assert err.splitlines() == ["reaper: error: i-busy not stopped: the idle policy calls it busy "
                                "(busy on 14 of 14 days). Add --force to stop it anyway."]

    forced = cli.main(["stop", "i-busy", "--force", "--by", "alice"], world.services)

    assert forced == 0 and world.ec2().stopped == ["i-busy"]
    (decision,) = world.store.records.values()
    assert decision.state is DecisionState.STOPPED and decision.events[0]["event"] == "stop-forced"


def test_stop_refuses_an_instance_outside_reaper_regions(world: FakeWorld, capsys: pytest.CaptureFixture[str]) -> None:
    world.env["REAPER_REGIONS"] = HOME
    world.launch("i-far", region=OTHER)

    assert cli.main(["stop", "i-far", "--region", OTHER], world.services) == 2
    assert f"{OTHER} is not one of REAPER_REGIONS ({HOME})" in capsys.readouterr().err
    assert world.ec2(OTHER).stopped == []


def test_scan_with_a_region_named_twice_scans_it_once(world: FakeWorld, capsys: pytest.CaptureFixture[str]) -> None:
    world.launch("i-idle")

    code = cli.main(["scan", "--json", "--region", HOME, "--region", HOME], world.services)

    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["regions"] == [HOME] and len(document["idle"]) == 1
    assert world.ec2(HOME).failures.calls["running_pages"] == 1


def test_scan_takes_regions_comma_separated_as_reaper_regions_does(
    world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["scan", "--json", "--region", f"{HOME},{OTHER}"], world.services)

    assert code == 0 and json.loads(capsys.readouterr().out)["regions"] == [HOME, OTHER]


def test_keep_tags_the_instance_and_status_shows_until_when_and_why(
    world: FakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.launch("i-demo")

    assert cli.main(["keep", "i-demo", "--days", "3", "--reason", "customer demo", "--by", "alice"],
                    world.services) == 0
    assert cli.main(["status"], world.services) == 0

    until = world.clock.now + timedelta(days=3)
    assert world.ec2().tagged == [("i-demo", "reaper:keep-until", until.date().isoformat())]
    assert f"until {until:%Y-%m-%d %H:%M} — customer demo" in capsys.readouterr().out
