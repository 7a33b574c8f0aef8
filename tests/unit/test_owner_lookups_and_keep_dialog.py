"""The pure parts of owners and the Keep dialog: cached look-ups, owner text, the dialog's form checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot import keep_dialog
from bot.blocks import owner_text, status_text
from reaper import directory
from reaper.model import Decision, DecisionState
from tests.fakes.core import START, FakeWorld

DAY, HOURS = timedelta(days=1), timedelta(hours=6)


def test_each_distinct_name_is_asked_once_and_remembered_found_or_not():
    world = FakeWorld()
    asked: list[str] = []

    def ask(name: str) -> str | None:
        asked.append(name)
        return {"a@x.org": "U0A"}.get(name)

    first = directory.look_up(world.services, "k", ["a@x.org", "a@x.org", "b@x.org"], ask,
                              found_for=DAY, missing_for=HOURS)
    second = directory.look_up(world.services, "k", ["a@x.org", "b@x.org"], ask, found_for=DAY, missing_for=HOURS)

    assert first == second == {"a@x.org": "U0A", "b@x.org": None}
    assert asked == ["a@x.org", "b@x.org"]
    world.clock.advance(hours=7)  # the "nobody" answer has lapsed, the user found has not
    directory.look_up(world.services, "k", ["a@x.org", "b@x.org"], ask, found_for=DAY, missing_for=HOURS)
    assert asked == ["a@x.org", "b@x.org", "b@x.org"]


def test_a_failed_look_up_is_left_out_and_not_remembered():
    world = FakeWorld()

    def ask(_name: str) -> str | None:
        raise directory.LookupFailed("ratelimited")

    assert directory.look_up(world.services, "k", ["a@x.org"], ask, found_for=DAY, missing_for=HOURS) == {}
    assert world.cache is not None and world.cache.entries == {}


@pytest.mark.parametrize(("owner", "users", "shown"), [
    ("U0ALICE", {}, "<@U0ALICE>"),
    ("alice@x.org", {"alice@x.org": "U0ALICE"}, "<@U0ALICE>"),
    ("bob@x.org", {}, "bob@x.org"),
    ("<!channel> team", {}, "&lt;!channel&gt; team"),
    (None, {}, ""),
])
def test_an_owner_is_a_mention_when_slack_knows_them_and_escaped_text_otherwise(owner, users, shown):
    assert owner_text(owner, users) == shown


def test_a_kept_row_reads_who_until_when_and_why():
    kept = Decision("d1", "i-1", "us-east-1", DecisionState.KEPT, START, START + DAY, actor="U0BOB",
                    keep_until=START + timedelta(days=35), reason="quarter <end>")

    assert status_text(kept) == ":shield: Kept by <@U0BOB> until 5 Jan — quarter &lt;end&gt;"


def submission(length: str, until: str | None = None, reason: str | None = None) -> dict[str, Any]:
    view = keep_dialog.view(decision_id="d1", channel="C1", ts="1.1", had_message=True, default_days=7, what="x")
    radio = next(b for b in view["blocks"] if b.get("block_id") == keep_dialog.LENGTH)["element"]
    chosen = next(o for o in radio["options"] if o["value"] == length)
    view["state"] = {"values": {
        keep_dialog.LENGTH: {keep_dialog.LENGTH: {"selected_option": chosen}},
        keep_dialog.UNTIL: {keep_dialog.UNTIL: {"selected_date": until}},
        keep_dialog.REASON: {keep_dialog.REASON: {"value": reason}},
    }}
    return {"type": "view_submission", "user": {"id": "U0BOB"}, "view": view}


def test_the_dialog_reads_back_its_row_and_choices():
    keep = keep_dialog.request(submission("30", reason="  load test  "))

    assert (keep.decision_id, keep.channel, keep.ts, keep.had_message) == ("d1", "C1", "1.1", True)
    assert (keep.user, keep.days, keep.until, keep.reason) == ("U0BOB", 30, None, "load test")
    assert keep_dialog.request(submission("date", "2027-01-05")).until.isoformat() == "2027-01-05"  # type: ignore[union-attr]


@pytest.mark.parametrize(("length", "until", "error"), [
    ("date", None, "Pick the day"),
    ("date", "2026-11-30", "in the past"),
    ("date", "2028-01-01", "at most 365 days"),
])
def test_the_dialog_refuses_a_missing_past_or_far_day_in_the_dialog(length, until, error):
    errors = keep_dialog.form_errors(submission(length, until), START)

    assert list(errors) == [keep_dialog.UNTIL] and error in errors[keep_dialog.UNTIL]


def test_a_length_or_a_day_from_today_on_is_accepted():
    assert keep_dialog.form_errors(submission("1"), START) == {}
    assert keep_dialog.form_errors(submission("date", START.date().isoformat()), START) == {}


def test_a_default_keep_length_outside_the_choices_is_offered_and_preselected():
    view = keep_dialog.view(decision_id="d1", channel="C1", ts="1.1", had_message=False, default_days=14, what="x")
    radio = next(b for b in view["blocks"] if b.get("block_id") == keep_dialog.LENGTH)["element"]

    assert [o["value"] for o in radio["options"]] == ["1", "7", "14", "30", "date"]
    assert radio["initial_option"]["value"] == "14"
