"""Owners and precise Keeps in the core (issue 14, parts 1 and 2), on in-memory fakes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from reaper import decisions
from reaper.errors import AwsError
from reaper.keeps import KEEP_TAG, keep_until, read_tag
from reaper.model import Decision, DecisionState, Outcome, SkipReason
from reaper.owners import DEFAULT_OWNER_TAGS, Clicker, owner_of
from reaper.scan import find_idle
from reaper.settings import Settings
from tests.fakes.core import HOME, FakeWorld

NOT_APPROVER = "You are not one of the approvers for this report (REAPER_APPROVERS), so nothing was changed."


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(regions=(HOME,))


def offered(world: FakeWorld, instance_id: str = "i-idle", **tags: str) -> Decision:
    """The row a scan offers for an idle instance with these tags (recorded for message C1/1.1)."""
    world.launch(instance_id, tags=tags)
    report = find_idle(world.services)
    [finding] = [f for f in report.proposed if f.instance.instance_id == instance_id]
    [row] = decisions.propose(world.services, [finding], channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])
    return row


# -- the owner tag ------------------------------------------------------------------------------


def test_the_first_configured_owner_tag_the_instance_carries_wins():
    tags = {"Contact": "ops@example.com", "CreatedBy": "U0CARL", "Email": "x@example.com"}

    assert owner_of(tags, DEFAULT_OWNER_TAGS) == "U0CARL"
    assert owner_of({"owner": "  bob  "}, DEFAULT_OWNER_TAGS) == "bob"
    assert owner_of({"Owner": " ", "Name": "web"}, DEFAULT_OWNER_TAGS) is None


def test_owner_tags_are_configurable_and_a_bad_key_names_the_variable():
    settings = Settings.from_env({"AWS_REGION": HOME, "REAPER_OWNER_TAGS": "team, Owner ,team"})
    assert settings.owner_tags == ("team", "Owner")
    assert Settings.from_env({"AWS_REGION": HOME}).owner_tags == ("Owner", "owner", "CreatedBy", "Contact", "Email")
    with pytest.raises(Exception, match="REAPER_OWNER_TAGS"):
        Settings.from_env({"AWS_REGION": HOME, "REAPER_OWNER_TAGS": "k" * 129})


def test_the_scan_json_carries_each_idle_rows_owner_or_null(world: FakeWorld):
    world.env["REAPER_OWNER_TAGS"] = "team,Owner"
    world.launch("i-owned", tags={"Owner": "alice@example.com", "team": "data"})
    world.launch("i-orphan", tags={"Name": "nobody's"})

    idle = {entry["instance_id"]: entry for entry in find_idle(world.services).to_json()["idle"]}

    assert idle["i-owned"]["owner"] == "data"
    assert idle["i-orphan"]["owner"] is None


def test_a_row_remembers_the_owner_it_was_offered_with(world: FakeWorld):
    row = offered(world, Owner="U0OWNER")

    assert world.store.records[row.id].owner == "U0OWNER"


# -- who may answer ------------------------------------------------------------------------------


def test_an_owner_who_is_not_an_approver_may_keep_their_own_instance(world: FakeWorld):
    row = offered(world, Owner="U0OWNER")

    result = decisions.keep(world.services, row.id, "U0OWNER", clicker=Clicker("U0OWNER", NOT_APPROVER))

    assert result.outcome is Outcome.KEPT


def test_an_owner_named_by_email_is_recognised_in_any_case(world: FakeWorld):
    row = offered(world, Owner="Alice@Example.com")

    result = decisions.keep(world.services, row.id, "U0ALICE",
                            clicker=Clicker("U0ALICE", NOT_APPROVER, email="alice@example.com"))

    assert result.outcome is Outcome.KEPT


@pytest.mark.parametrize(("may_stop", "expected"), [("true", Outcome.STOPPED), ("false", Outcome.NOT_ALLOWED)])
def test_whether_an_owner_may_stop_their_own_instance_is_a_setting(world: FakeWorld, may_stop: str, expected):
    world.env["REAPER_OWNERS_MAY_STOP"] = may_stop
    row = offered(world, Owner="U0OWNER")

    result = decisions.stop(world.services, row.id, "U0OWNER", clicker=Clicker("U0OWNER", NOT_APPROVER))

    assert result.outcome is expected
    if expected is Outcome.NOT_ALLOWED:
        assert "REAPER_OWNERS_MAY_STOP" in result.message
        assert world.ec2().stopped == [] and world.store.records[row.id].state is DecisionState.PENDING


def test_someone_neither_approver_nor_owner_is_refused_and_told_why(world: FakeWorld):
    row = offered(world, Owner="U0OWNER")

    for action in (decisions.stop, decisions.keep):
        result = action(world.services, row.id, "U0MALLORY", clicker=Clicker("U0MALLORY", NOT_APPROVER))

        assert result.outcome is Outcome.NOT_ALLOWED and result.outcome.refused
        assert result.message == ("You are not one of the approvers for this report (REAPER_APPROVERS), "
                                  "nor this instance's owner, so nothing was changed.")
    assert world.store.records[row.id].state is DecisionState.PENDING and world.ec2().tagged == []


def test_an_approver_is_never_asked_about_ownership(world: FakeWorld):
    row = offered(world, Owner="U0OWNER")
    reads = world.store.failures.calls["get"]

    result = decisions.stop(world.services, row.id, "U0BOSS", clicker=Clicker("U0BOSS"))

    assert result.outcome is Outcome.STOPPED
    assert world.store.failures.calls["get"] == reads  # no read for the owner


# -- Keep, precisely -------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [1, 7, 30])
def test_each_keep_length_is_recorded_and_mirrored_to_the_one_tag(world: FakeWorld, days: int):
    row = offered(world)
    now = world.clock.now

    result = decisions.keep(world.services, row.id, "U0BOB", days=days)

    kept = world.store.records[row.id]
    assert result.outcome is Outcome.KEPT and kept.keep_until == now + timedelta(days=days)
    assert world.ec2().tagged == [("i-idle", KEEP_TAG, (now + timedelta(days=days)).date().isoformat())]


def test_the_default_keep_length_is_REAPER_KEEP_DAYS(world: FakeWorld):
    world.env["REAPER_KEEP_DAYS"] = "10"
    row = offered(world)

    decisions.keep(world.services, row.id, "U0BOB")

    assert world.store.records[row.id].keep_until == world.clock.now + timedelta(days=10)


def test_a_keep_until_a_date_lasts_through_that_day_and_keeps_its_reason(world: FakeWorld):
    row = offered(world)
    day = world.clock.now.date() + timedelta(days=35)

    result = decisions.keep(world.services, row.id, "U0BOB", until=day, reason="  quarter-end demo ")

    kept = world.store.records[row.id]
    assert result.outcome is Outcome.KEPT
    assert (kept.keep_until.date(), kept.keep_until.hour, kept.reason) == (day, 23, "quarter-end demo")
    assert world.ec2().tagged == [("i-idle", KEEP_TAG, day.isoformat())]
    assert world.audit.documents and any(d["reason"] == "quarter-end demo" for d in world.audit.documents.values())


@pytest.mark.parametrize("offset", [-1, 366])
def test_a_keep_until_a_past_day_or_beyond_a_year_changes_nothing(world: FakeWorld, offset: int):
    row = offered(world)

    result = decisions.keep(world.services, row.id, "U0BOB", until=world.clock.now.date() + timedelta(days=offset))

    assert result.outcome is Outcome.NOT_ALLOWED
    assert world.store.records[row.id].state is DecisionState.PENDING and world.ec2().tagged == []


def test_a_tag_that_cannot_be_written_leaves_the_keep_standing_and_says_so(world: FakeWorld):
    row = offered(world)
    world.ec2().failures.fail("tag_keep_until", AwsError("UnauthorizedOperation: no", "UnauthorizedOperation"))

    result = decisions.keep(world.services, row.id, "U0BOB")

    assert result.outcome is Outcome.KEPT and world.store.records[row.id].state is DecisionState.KEPT
    assert "tag could not be written" in result.message


# -- the tag, read back by a scan ---------------------------------------------------------------------


def test_a_hand_written_future_keep_until_tag_keeps_the_instance_off_the_report(world: FakeWorld):
    until = (world.clock.now.date() + timedelta(days=3)).isoformat()
    world.launch("i-tagged", tags={"Reaper:Keep-Until": until})

    report = find_idle(world.services)

    [finding] = report.findings
    assert not finding.proposed and finding.skip is not None
    assert finding.skip.reason is SkipReason.KEPT and finding.skip.text == f"kept by a team member: {KEEP_TAG} {until}"


def test_a_keep_until_tag_of_today_still_keeps_and_a_past_one_is_ignored(world: FakeWorld):
    today = world.clock.now.date()
    world.launch("i-today", tags={KEEP_TAG: today.isoformat()})
    world.launch("i-past", tags={KEEP_TAG: (today - timedelta(days=1)).isoformat()})

    report = find_idle(world.services)

    assert [f.instance.instance_id for f in report.proposed] == ["i-past"]


def test_an_unparseable_keep_until_tag_is_ignored_with_a_note(world: FakeWorld):
    world.launch("i-odd", tags={KEEP_TAG: "next friday"})

    [entry] = find_idle(world.services).to_json()["idle"]

    assert entry["instance_id"] == "i-odd"
    assert entry["notes"] == [f"{KEEP_TAG} 'next friday' ignored: not a date (YYYY-MM-DD)"]


def test_a_keep_written_by_the_reaper_is_honoured_by_the_click_time_recheck(world: FakeWorld):
    first = offered(world, "i-idle")
    second = decisions.propose(world.services, find_idle(world.services).proposed, channel="C2", message_ts="2.2")
    decisions.record_rows(world.services, second)
    decisions.keep(world.services, first.id, "U0BOB")
    # Only the tag is left to say so (the Keep's record is gone, say the table was restored).
    world.store.records.pop(first.id)

    result = decisions.stop(world.services, second[0].id, "U0ALICE", channel="C2", message_ts="2.2")

    assert result.outcome is Outcome.SKIPPED and KEEP_TAG in result.message
    assert world.ec2().stopped == []


def test_read_tag_prefers_the_latest_valid_day_and_rejects_impossible_dates():
    tag = read_tag({KEEP_TAG: "2026-12-05", "REAPER:KEEP-UNTIL": "2026-12-09", "reaper:Keep-until": "2026-02-30"})

    assert tag.until == date(2026, 12, 9) and tag.note is not None and "2026-02-30" in tag.note


def test_keep_until_without_a_choice_uses_the_default(world: FakeWorld):
    assert keep_until(world.clock.now, default_days=7) == world.clock.now + timedelta(days=7)
