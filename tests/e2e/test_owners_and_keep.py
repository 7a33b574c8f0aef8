"""Owners and precise Keeps end to end (issue 14, parts 1-2): signed requests → lambda_handler → moto, FakeSlack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import keep_dialog
from bot.blocks import KEEP_ACTION, STOP_ACTION
from demo.fleet import Machine, launch
from reaper.keeps import KEEP_TAG
from reaper.model import DecisionState
from testkit.slack import FakeSlack
from tests.aws import HOME, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import CHANNEL, Row, SlackDriver

QUIET = ([0.8] * 14, [0.5] * 14)


def machine(name: str, owner: str = "", **tags: str) -> Machine:
    return Machine(name, HOME, *QUIET, "t3.large", owner, dict(tags))


@pytest.fixture
def seed(aws: AwsEnv, test_clients: Callable[[str, str], Any]) -> Callable[..., dict[str, str]]:
    def run(*machines: Machine) -> dict[str, str]:
        return launch(test_clients, list(machines))

    return run


def channel_rows(bot: SlackDriver) -> dict[str, Row]:
    """Instance id → its row in the channel report."""
    found = {}
    for row in bot.report_rows(CHANNEL):
        section = next(b for b in row.message.blocks if b.get("block_id") == f"row:{row.decision_id}")
        instance_id = section["text"]["text"].split("`")[1]
        found[instance_id] = row
    return found


def row_text(bot: SlackDriver, instance_id: str) -> str:
    row = channel_rows(bot)[instance_id]
    section = next(b for b in row.message.blocks if b.get("block_id") == f"row:{row.decision_id}")
    return str(section["text"]["text"])


def status_of(slack: FakeSlack, row: Row) -> str:
    message = slack.message(row.message.channel, row.message.ts)
    block = next(b for b in message.blocks if b.get("block_id") == f"act:{row.decision_id}")
    assert block["type"] == "context", "the row still has its buttons"
    return str(block["elements"][0]["text"])


def tags_of(aws: AwsEnv, instance_id: str) -> dict[str, str]:
    described = aws.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])
    return {t["Key"]: t["Value"] for t in described["Tags"]}


def ephemerals(slack: FakeSlack, user: str) -> list[str]:
    return [str(c.params["text"]) for c in slack.calls_to("chat.postEphemeral") if c.params.get("user") == user]


# -- 1. owners on the rows ---------------------------------------------------------------------


def test_an_owner_named_by_slack_user_id_is_mentioned_as_is(bot: SlackDriver, seed):
    ids = seed(machine("by-id", "U0ALICE"))

    bot.scheduled()

    assert "owner <@U0ALICE>" in row_text(bot, ids["by-id"])
    assert bot.slack.calls_to("users.lookupByEmail") == []


def test_an_owner_email_slack_knows_is_mentioned_and_one_it_does_not_is_text(bot: SlackDriver, seed):
    bot.slack.users_by_email["carol@example.com"] = "U0CAROL"
    ids = seed(machine("known", "Carol@Example.com"), machine("unknown", "dave@example.com"))

    bot.scheduled()

    assert "owner <@U0CAROL>" in row_text(bot, ids["known"])
    assert "owner dave@example.com" in row_text(bot, ids["unknown"])
    asked = sorted(str(c.params["email"]) for c in bot.slack.calls_to("users.lookupByEmail"))
    assert asked == ["carol@example.com", "dave@example.com"]


def test_a_failed_look_up_shows_the_owner_as_text_and_is_asked_again_next_report(bot: SlackDriver, seed):
    bot.slack.users_by_email["erin@example.com"] = "U0ERIN"
    bot.slack.failing_lookups.add("erin@example.com")
    ids = seed(machine("failing", "erin@example.com"))

    bot.scheduled()
    assert "owner erin@example.com" in row_text(bot, ids["failing"])
    bot.slack.failing_lookups.clear()
    bot.scheduled()

    assert len(bot.slack.calls_to("users.lookupByEmail")) == 2  # the failure was not remembered
    latest = bot.slack.calls_to("chat.postMessage")[-1]
    assert "owner <@U0ERIN>" in str(latest.params["blocks"])


def test_a_report_asks_once_per_address_and_the_next_report_asks_nothing(bot: SlackDriver, seed, aws_calls: AwsCalls):
    bot.slack.users_by_email["carol@example.com"] = "U0CAROL"
    seed(machine("one", "carol@example.com"), machine("two", "CAROL@example.com"), machine("gone", "x@example.com"))

    bot.scheduled()
    assert len(bot.slack.calls_to("users.lookupByEmail")) == 2  # carol once for two instances, x once
    bot.scheduled()

    assert len(bot.slack.calls_to("users.lookupByEmail")) == 2  # both answers (found, not found) from the cache
    assert str(bot.slack.calls_to("chat.postMessage")[-1].params["blocks"]).count("owner <@U0CAROL>") == 2


def test_an_instance_without_an_owner_tag_shows_none_and_its_json_owner_is_null(bot: SlackDriver, seed, aws: AwsEnv):
    ids = seed(machine("orphan", ""), machine("contact", "", Contact="ops-team"))

    bot.scheduled()

    assert "owner" not in row_text(bot, ids["orphan"])
    assert "owner ops-team" in row_text(bot, ids["contact"])
    from reaper.scan import find_idle

    idle = {e["instance_id"]: e["owner"] for e in find_idle(aws.services()).to_json()["idle"]}
    assert idle == {ids["orphan"]: None, ids["contact"]: "ops-team"}


def test_each_owner_gets_one_direct_message_with_all_their_idle_instances(
    bot: SlackDriver, seed, monkeypatch: pytest.MonkeyPatch, aws: AwsEnv
):
    monkeypatch.setenv("REAPER_NOTIFY_OWNERS", "true")
    bot.slack.users_by_email["alice@example.com"] = "U0ALICE"
    ids = seed(machine("a1", "U0ALICE"), machine("a2", "alice@example.com"), machine("a3", "U0ALICE"),
               machine("b1", "U0BOB"), machine("nobody", "a name"))

    bot.scheduled()

    posts = bot.slack.calls_to("chat.postMessage")
    by_channel: dict[str, list[Any]] = {}
    for post in posts:
        by_channel.setdefault(str(post.params["channel"]), []).append(post)
    assert sorted(by_channel) == sorted([CHANNEL, "U0ALICE", "U0BOB"])
    assert len(by_channel["U0ALICE"]) == 1 and len(by_channel["U0BOB"]) == 1
    alice = str(by_channel["U0ALICE"][0].params["blocks"])
    assert all(ids[n] in alice for n in ("a1", "a2", "a3")) and ids["b1"] not in alice
    assert "3 of your instances are idle" in alice
    assert len(bot.report_rows("U0ALICE")) == 3 and len(bot.report_rows(CHANNEL)) == 5
    # Each DM row names the channel row it repeats: the grace period and App Home count the report once.
    store = aws.services().store
    channel_rows = {store.get(r.decision_id).instance_id: r.decision_id for r in bot.report_rows(CHANNEL)}
    for row in bot.report_rows("U0ALICE"):
        copy = store.get(row.decision_id)
        assert copy.copy_of == channel_rows[copy.instance_id] != copy.id


def test_a_keep_from_the_direct_message_is_recorded_and_shown_on_it(
    bot: SlackDriver, seed, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REAPER_NOTIFY_OWNERS", "true")
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOSS")
    ids = seed(machine("mine", "U0ALICE"))
    bot.scheduled()
    [row] = bot.report_rows("U0ALICE")

    bot.keep(row, user="U0ALICE", reason="demo on Friday")
    bot.wait_for_lazy()

    assert aws.services().store.get(row.decision_id).state is DecisionState.KEPT
    assert status_of(bot.slack, row).endswith("— demo on Friday")
    assert KEEP_TAG in tags_of(aws, ids["mine"])


# -- who may click -------------------------------------------------------------------------------


def test_an_owner_who_is_not_an_approver_may_keep_their_own_instance(
    bot: SlackDriver, seed, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOSS")
    bot.slack.users_by_email["alice@example.com"] = "U0ALICE"
    ids = seed(machine("alices", "alice@example.com"), machine("bobs", "U0BOB"))
    bot.scheduled()
    rows = channel_rows(bot)

    bot.keep(rows[ids["alices"]], user="U0ALICE")
    bot.keep(rows[ids["bobs"]], user="U0ALICE")
    bot.wait_for_lazy()

    store = aws.services().store
    assert store.get(rows[ids["alices"]].decision_id).state is DecisionState.KEPT
    assert store.get(rows[ids["bobs"]].decision_id).state is DecisionState.PENDING
    assert ephemerals(bot.slack, "U0ALICE") == [
        "You are not one of the approvers for this report (REAPER_APPROVERS), nor this instance's owner, "
        "so nothing was changed."]
    assert KEEP_TAG not in tags_of(aws, ids["bobs"])


@pytest.mark.parametrize(("may_stop", "stopped"), [("true", True), ("false", False)])
def test_whether_an_owner_may_stop_their_own_instance_is_the_setting(
    bot: SlackDriver, seed, aws: AwsEnv, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch,
    may_stop: str, stopped: bool,
):
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOSS")
    monkeypatch.setenv("REAPER_OWNERS_MAY_STOP", may_stop)
    ids = seed(machine("mine", "U0ALICE"))
    bot.scheduled()
    row = channel_rows(bot)[ids["mine"]]
    aws_calls.clear()

    bot.click(row, STOP_ACTION, user="U0ALICE")
    bot.wait_for_lazy()

    state = aws.services().store.get(row.decision_id).state
    assert (state is DecisionState.STOPPED) is stopped and aws_calls.count("StopInstances") == int(stopped)
    if not stopped:
        assert state is DecisionState.PENDING
        [told] = ephemerals(bot.slack, "U0ALICE")
        assert "REAPER_OWNERS_MAY_STOP is off" in told


# -- 2. Keep, precisely ----------------------------------------------------------------------------


def test_the_keep_dialog_opens_within_the_ack_without_any_aws_call(bot: SlackDriver, seed, aws_calls: AwsCalls):
    seed(machine("idle"))
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()
    invocations = len(bot.lam.invocations)

    response = bot.click(row, KEEP_ACTION, user="U0BOB")

    # The handler has returned the ack: by then Slack has been asked to open the dialog, and
    # nothing else happened (no AWS call, no lazy invocation that could make one).
    assert response["statusCode"] == 200
    [opened] = bot.slack.calls_to("views.open")
    assert opened.params["trigger_id"] == "1.2.3"
    assert aws_calls.operations == [] and len(bot.lam.invocations) == invocations
    view = bot.slack.views[-1]
    assert view["callback_id"] == keep_dialog.CALLBACK_ID
    radio = next(b for b in view["blocks"] if b.get("block_id") == keep_dialog.LENGTH)["element"]
    assert [o["value"] for o in radio["options"]] == ["1", "7", "30", "date"]
    assert radio["initial_option"]["value"] == "7"  # REAPER_KEEP_DAYS


@pytest.mark.parametrize("length", ["1", "7", "30", "date"])
def test_each_keep_length_is_recorded_shown_and_tagged_and_nothing_else_is_tagged(
    bot: SlackDriver, seed, aws: AwsEnv, aws_calls: AwsCalls, length: str
):
    ids = seed(machine("kept"), machine("other"))
    before = {name: tags_of(aws, ids[name]) for name in ids}
    bot.scheduled()
    row = channel_rows(bot)[ids["kept"]]
    day = (datetime.now(UTC) + timedelta(days=45)).date()
    aws_calls.clear()

    bot.keep(row, user="U0BOB", length=length, until=day.isoformat() if length == "date" else None,
             reason="waiting for the vendor")
    bot.wait_for_lazy()

    decision = aws.services().store.get(row.decision_id)
    assert decision.state is DecisionState.KEPT and decision.keep_until is not None
    if length == "date":
        assert decision.keep_until.date() == day
    else:
        held = decision.keep_until - (decision.decided_at or decision.keep_until)
        assert held == timedelta(days=int(length))
    until = decision.keep_until.date()
    assert status_of(bot.slack, row) == (
        f":shield: Kept by <@U0BOB> until {until.day} {until:%b} — waiting for the vendor")
    assert aws_calls.count("CreateTags") == 1
    assert tags_of(aws, ids["kept"]) == {**before["kept"], KEEP_TAG: until.isoformat()}
    assert tags_of(aws, ids["other"]) == before["other"]


def test_a_past_day_in_the_dialog_is_refused_in_the_dialog_and_nothing_is_kept(
    bot: SlackDriver, seed, aws: AwsEnv, aws_calls: AwsCalls
):
    seed(machine("idle"))
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    response = bot.keep(row, user="U0BOB", length="date", until="2020-01-01")
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    assert '"response_action": "errors"' in response["body"] and "in the past" in response["body"]
    assert aws.services().store.get(row.decision_id).state is DecisionState.PENDING
    assert aws_calls.count("CreateTags") == 0


def test_a_hand_written_keep_until_tag_is_honoured_and_a_past_one_ignored(bot: SlackDriver, seed, aws: AwsEnv):
    ids = seed(machine("future"), machine("past"), machine("garbled"))
    today = datetime.now(UTC).date()
    ec2 = aws.client("ec2")
    ec2.create_tags(Resources=[ids["future"]], Tags=[{"Key": KEEP_TAG, "Value": str(today + timedelta(days=5))}])
    ec2.create_tags(Resources=[ids["past"]], Tags=[{"Key": KEEP_TAG, "Value": str(today - timedelta(days=1))}])
    ec2.create_tags(Resources=[ids["garbled"]], Tags=[{"Key": KEEP_TAG, "Value": "after xmas"}])

    result = bot.scheduled()

    assert result["idle"] == 2
    offered = channel_rows(bot)
    assert sorted(offered) == sorted([ids["past"], ids["garbled"]])
    assert f"{KEEP_TAG} 'after xmas' ignored: not a date (YYYY-MM-DD)" in row_text(bot, ids["garbled"])
    summary = str(bot.slack.calls_to("chat.postMessage")[0].params["blocks"])
    assert "Idle but not offered: 1 kept by a team member" in summary
