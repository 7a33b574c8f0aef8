"""App Home's use case (reaper.home), the owner tag (reaper.owners) and the next scheduled report (reaper.schedule)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reaper import decisions
from reaper.errors import AwsError, SettingsError
from reaper.home import home
from reaper.model import Finding
from reaper.owners import Clicker, owner_of
from reaper.policy import judge
from reaper.schedule import next_run
from reaper.settings import Settings
from tests.fakes.core import HOME, OTHER, FakeWorld

WEDNESDAY = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("cron(0 9 ? * MON-FRI *)", WEDNESDAY, datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),  # today's has run
    ("cron(0 9 ? * MON-FRI *)", datetime(2026, 12, 4, 9, 0, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ("cron(45 10 * * ? *)", WEDNESDAY, datetime(2026, 12, 2, 10, 45, tzinfo=UTC)),  # later today
    ("cron(0/15 * * * ? *)", WEDNESDAY, datetime(2026, 12, 2, 10, 45, tzinfo=UTC)),
    ("cron(0 8 1 JAN,JUL ? *)", WEDNESDAY, datetime(2027, 1, 1, 8, 0, tzinfo=UTC)),
    ("cron(0 12 ? * 1 *)", WEDNESDAY, datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),  # 1 is Sunday
    ("cron(0 9 ? * 2#1 *)", WEDNESDAY, None),  # "#" is not computed
    ("rate(1 day)", WEDNESDAY, None),  # counts from the rule's creation, which is not known here
])
def test_the_next_report_follows_the_eventbridge_expression(expression, after, expected) -> None:
    assert next_run(expression, after) == expected


def test_a_schedule_that_is_not_an_eventbridge_expression_stops_the_start() -> None:
    env = {"AWS_REGION": HOME}
    assert Settings.from_env({**env, "REAPER_REPORT_SCHEDULE": "cron(0 9 ? * MON-FRI *)"}).report_schedule
    assert Settings.from_env(env).report_schedule is None
    with pytest.raises(SettingsError, match="REAPER_REPORT_SCHEDULE: '0 9 \\* \\* \\*' is not an EventBridge"):
        Settings.from_env({**env, "REAPER_REPORT_SCHEDULE": "0 9 * * *"})


def test_the_owner_is_the_first_owner_tag_with_a_value() -> None:
    assert owner_of({"CreatedBy": "U0BOB", "owner": "  "}) == "U0BOB"
    assert owner_of({"Owner": "U0ALICE", "Email": "bob@example.com"}) == "U0ALICE"
    assert owner_of({"Name": "x"}) is None
    assert owner_of({"Team": "U0CAROL"}, ["Team"]) == "U0CAROL"


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld(env={"REAPER_REPORT_SCHEDULE": "cron(0 9 ? * MON-FRI *)"})
    world.clock.now = WEDNESDAY
    return world


def offer(world: FakeWorld, instance_id: str, region: str = HOME) -> None:
    instance = world.ec2(region).instances[instance_id]
    verdict = judge(world.metrics[region].usage[instance_id], world.settings.policy)
    rows = decisions.propose(world.services, [Finding(instance, verdict)], channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, rows)


def test_home_shows_the_policy_the_next_report_open_rows_own_instances_and_recent_decisions(world) -> None:
    world.launch("i-bob", tags={"Owner": "U0BOB"})
    world.launch("i-bob-eu", region=OTHER, tags={"CreatedBy": "U0BOB"})
    world.launch("i-alice", tags={"Owner": "U0ALICE"})
    offer(world, "i-bob")
    offer(world, "i-alice")
    kept = decisions.keep_instance(world.services, "i-alice", "U0ALICE")

    shown = home(world.services, Clicker("U0BOB"))

    assert shown.policy == world.settings.policy and shown.regions == (HOME, OTHER)
    assert shown.next_report == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert [d.instance_id for d in shown.open_rows] == ["i-bob", "i-alice"] and shown.open_total == 2
    assert sorted(i.instance_id for i in shown.own) == ["i-bob", "i-bob-eu"] and shown.own_total == 2
    assert shown.offered(world.ec2().instances["i-bob"]) and not shown.offered(world.ec2(OTHER).instances["i-bob-eu"])
    assert [d.id for d in shown.recent] == [kept.decision.id if kept.decision else None]
    assert not shown.errors


def test_home_lists_instances_tagged_with_the_persons_e_mail_under_the_configured_owner_tags(world) -> None:
    world.env["REAPER_OWNER_TAGS"] = "Team-Owner"
    world.launch("i-carol", tags={"Team-Owner": "Carol@Example.com"})
    world.launch("i-default-key", tags={"Owner": "carol@example.com"})  # not a configured key

    shown = home(world.services, Clicker("U0CAROL", email="carol@example.com"))

    assert [i.instance_id for i in shown.own] == ["i-carol"]


def test_home_of_someone_who_owns_nothing_lists_none_and_a_failed_region_is_named(world) -> None:
    world.launch("i-alice", tags={"Owner": "U0ALICE"})
    world.ec2(OTHER).failures.fail("running_pages", AwsError("EC2: throttled", "Throttling"))

    shown = home(world.services, Clicker("U0CAROL"))

    assert shown.own == () and shown.own_total == 0
    assert shown.errors == {OTHER: "EC2: throttled"}


def test_open_rows_leave_out_expired_and_answered_ones(world) -> None:
    world.launch("i-a")
    offer(world, "i-a")
    world.clock.advance(days=world.settings.row_days, seconds=1)

    assert home(world.services, Clicker("U0BOB")).open_rows == ()
