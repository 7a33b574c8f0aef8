"""The daily report and its buttons, end to end: EventBridge → report → signed clicks → moto and Slack."""

from __future__ import annotations

import copy

import pytest

from bot.blocks import KEEP_ACTION, MAX_BLOCKS, STOP_ACTION
from reaper.model import DecisionState
from testkit.slack import FakeSlack
from testkit.slack_requests import CHANNEL, api_gateway_event, button_body
from tests.aws import AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver


def instance_state(aws: AwsEnv, instance_id: str) -> str:
    reservations = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def ephemerals(slack: FakeSlack, user: str) -> list[str]:
    return [str(c.params["text"]) for c in slack.calls_to("chat.postEphemeral") if c.params.get("user") == user]


def row_block(slack: FakeSlack, channel: str, ts: str, decision_id: str) -> dict:
    return next(b for b in slack.message(channel, ts).blocks if b.get("block_id") == f"act:{decision_id}")


def test_the_scheduled_report_offers_each_idle_instance_with_stop_and_keep(bot: SlackDriver, fleet: dict[str, str]):
    result = bot.scheduled()

    assert result["ok"] and result["idle"] == 2 and result["scanned"] == 3
    [post] = bot.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    blocks = post.params["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[0]["type"] == "header"
    assert "*2 idle* of 3 running instances in us-east-1" in blocks[1]["text"]["text"]
    text = str(blocks)
    assert fleet["dev-alice-sandbox"] in text and fleet["staging-reports"] in text
    assert fleet["api-prod"] not in text
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 2
    for block in actions:
        stop, keep = block["elements"]
        assert (stop["action_id"], stop["style"], keep["action_id"]) == (STOP_ACTION, "danger", KEEP_ACTION)
        assert "confirm" in stop
        assert stop["value"] == keep["value"] == block["block_id"][len("act:") :]


def test_the_scheduled_report_rows_are_recorded_with_the_message_channel_and_ts(bot, fleet, aws: AwsEnv):
    bot.scheduled()

    services = aws.services()
    rows = bot.report_rows()
    assert len(rows) == 2
    for row in rows:
        decision = services.store.get(row.decision_id)
        assert (decision.channel, decision.message_ts) == (CHANNEL, row.message.ts)
        assert decision.state is DecisionState.PENDING


def test_nothing_running_gets_a_friendly_message_without_buttons(bot, aws: AwsEnv):
    result = bot.scheduled()

    assert result["ok"] and result["idle"] == 0 and result["scanned"] == 0
    [post] = bot.slack.calls_to("chat.postMessage")
    assert "*No running instances* in us-east-1" in str(post.params["blocks"])  # not "every instance is busy"
    assert not [b for b in post.params["blocks"] if b["type"] == "actions"]


@pytest.mark.parametrize("version", [2, 1])
def test_stop_click_stops_the_instance_records_audits_and_updates_the_message(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, version: int
):
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    response = bot.click(row, STOP_ACTION, user="U0ALICE", version=version)
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    decision = aws.services().store.get(row.decision_id)
    assert decision.state is DecisionState.STOPPED and decision.actor == "U0ALICE"
    assert instance_state(aws, decision.instance_id) in ("stopping", "stopped")
    assert aws_calls.count("StopInstances") == 1
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert any(k.endswith("-stopped.json") and row.decision_id in k for k in keys)
    updates = bot.slack.calls_to("chat.update")
    assert updates[0].params["ts"] == row.message.ts and updates[0].params["channel"] == CHANNEL
    assert "Stopping… requested by <@U0ALICE>" in str(updates[0].params["blocks"])
    status = row_block(bot.slack, CHANNEL, row.message.ts, row.decision_id)
    assert status["type"] == "context"
    assert "Stopped by <@U0ALICE> at" in status["elements"][0]["text"]
    assert not bot.slack.calls_to("auth.test")  # no token check round trip on any path


@pytest.mark.parametrize("action_id", [STOP_ACTION, KEEP_ACTION])
def test_a_click_without_its_message_is_recorded_and_told_and_never_erases_the_report(
    bot: SlackDriver, fleet, aws: AwsEnv, action_id: str
):
    bot.scheduled()
    row = bot.report_rows()[0]
    report = copy.deepcopy(bot.slack.message(CHANNEL, row.message.ts).blocks)

    if action_id == KEEP_ACTION:  # through its dialog
        bot.keep(row, user="U0ALICE", with_message=False)
    else:
        bot.click(row, action_id, user="U0ALICE", with_message=False)
    bot.wait_for_lazy()

    decision = aws.services().store.get(row.decision_id)
    expected = DecisionState.STOPPED if action_id == STOP_ACTION else DecisionState.KEPT
    assert decision.state is expected and decision.actor == "U0ALICE"
    assert bot.slack.calls_to("chat.update") == []
    assert bot.slack.message(CHANNEL, row.message.ts).blocks == report
    [told] = ephemerals(bot.slack, "U0ALICE")
    assert ("Stopped by <@U0ALICE>" if action_id == STOP_ACTION else "Kept by <@U0ALICE>") in told
    assert "The report itself was not updated" in told


def test_the_ack_returns_before_any_ec2_work(bot: SlackDriver, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    response = bot.click(row)
    operations_at_ack = list(aws_calls.operations)
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    assert "StopInstances" not in operations_at_ack and "DescribeInstances" not in operations_at_ack


def test_keep_shows_who_and_until_when_and_hides_the_instance_from_the_next_report(bot, fleet, aws: AwsEnv):
    bot.scheduled()
    row = bot.report_rows()[0]
    kept = aws.services().store.get(row.decision_id)

    bot.keep(row, user="U0BOB")
    bot.wait_for_lazy()

    decision = aws.services().store.get(row.decision_id)
    assert decision.state is DecisionState.KEPT
    status = row_block(bot.slack, CHANNEL, row.message.ts, row.decision_id)["elements"][0]["text"]
    assert status == f":shield: Kept by <@U0BOB> until {decision.keep_until.day} {decision.keep_until:%b}"
    assert instance_state(aws, kept.instance_id) == "running"

    bot.scheduled()

    latest = bot.slack.calls_to("chat.postMessage")[-1]
    assert kept.instance_id not in str(latest.params["blocks"])
    assert "*1 idle*" in str(latest.params["blocks"])


def test_a_double_click_stops_once_and_tells_the_late_clicker_who_handled_it(bot, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    bot.click(row, user="U0ALICE")
    bot.wait_for_lazy()
    bot.click(row, user="U0BOB")
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 1
    assert any("Already handled by <@U0ALICE>" in text for text in ephemerals(bot.slack, "U0BOB"))


def test_concurrent_clicks_stop_once(bot, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    for user in ("U0ALICE", "U0BOB", "U0CAROL"):
        bot.click(row, user=user)
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 1
    assert len(bot.slack.calls_to("chat.postEphemeral")) == 2


def test_a_replayed_request_does_not_stop_twice(bot, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    event = api_gateway_event(button_body(row.message, row.decision_id, STOP_ACTION, "U0ALICE"))
    aws_calls.clear()

    bot.invoke(copy.deepcopy(event))
    bot.wait_for_lazy()
    bot.invoke(copy.deepcopy(event))
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 1
    assert any("Already handled" in t for t in ephemerals(bot.slack, "U0ALICE"))


def test_an_unknown_button_value_is_refused_and_changes_nothing(bot, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    forged = type(row)("not-a-real-decision-id", row.message)
    aws_calls.clear()

    bot.click(forged)
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 0 and aws_calls.succeeded("UpdateItem") == 0
    assert any("This report row is unknown" in t for t in ephemerals(bot.slack, "U0ALICE"))
    assert not bot.slack.calls_to("chat.update")


def test_a_button_moved_to_another_message_is_refused(bot, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    first, second = bot.report_rows()
    other = copy.deepcopy(first.message)
    other.ts = "1699999999.000100"
    aws_calls.clear()

    bot.click(type(first)(second.decision_id, other))
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 0 and aws_calls.succeeded("UpdateItem") == 0
    assert any("does not belong to this message" in t for t in ephemerals(bot.slack, "U0ALICE"))


def test_someone_not_among_the_approvers_is_refused(bot, fleet, aws: AwsEnv, aws_calls, monkeypatch):
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOSS,S0ADMINS")
    bot.slack.groups["S0ADMINS"] = ["U0CAROL"]
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    bot.click(row, user="U0MALLORY")
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 0 and aws_calls.succeeded("UpdateItem") == 0
    assert aws.services().store.get(row.decision_id).state is DecisionState.PENDING
    assert any("not one of the approvers" in t for t in ephemerals(bot.slack, "U0MALLORY"))


def test_a_member_of_an_approver_group_may_stop(bot, fleet, aws: AwsEnv, aws_calls, monkeypatch):
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOSS,S0ADMINS")
    bot.slack.groups["S0ADMINS"] = ["U0CAROL"]
    bot.scheduled()
    row = bot.report_rows()[0]

    bot.click(row, user="U0CAROL")
    bot.wait_for_lazy()

    assert aws.services().store.get(row.decision_id).state is DecisionState.STOPPED
    assert bot.slack.calls_to("usergroups.users.list")[0].params["usergroup"] == "S0ADMINS"


def test_a_failed_group_lookup_denies(bot, fleet, aws: AwsEnv, aws_calls, monkeypatch):
    monkeypatch.setenv("REAPER_APPROVERS", "S0GONE")
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    bot.click(row, user="U0CAROL")
    bot.wait_for_lazy()

    assert aws_calls.succeeded("UpdateItem") == 0
    assert any("could not check the approvers group" in t for t in ephemerals(bot.slack, "U0CAROL"))


def test_a_request_from_another_workspace_is_refused(bot, fleet, aws_calls, monkeypatch):
    monkeypatch.setenv("SLACK_TEAM_ID", "T0OTHER")
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()

    response = bot.click(row)
    bot.wait_for_lazy()

    assert response["statusCode"] == 403
    assert len(aws_calls) == 0
    assert not bot.lam.invocations


def test_a_rate_limited_update_is_retried(bot, fleet, aws: AwsEnv):
    bot.scheduled()
    row = bot.report_rows()[0]
    bot.slack.rate_limit("chat.update", 1)

    bot.click(row)
    bot.wait_for_lazy()

    assert len(bot.slack.calls_to("chat.update")) == 3  # Stopping…, its retry after the 429, Stopped
    status = row_block(bot.slack, CHANNEL, row.message.ts, row.decision_id)
    assert "Stopped by" in status["elements"][0]["text"]


def test_a_scheduled_event_for_an_unknown_task_posts_nothing(bot, fleet):
    from testkit.slack_requests import load_event

    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "defragment"}

    result = bot.invoke(event)

    assert result["ok"] is False
    assert not bot.slack.calls_to("chat.postMessage")


def test_the_repair_sweep_settles_rows_and_removes_expired_buttons(bot, fleet, aws: AwsEnv):
    from datetime import UTC, datetime, timedelta

    from testkit.slack_requests import load_event

    past = datetime.now(UTC) - timedelta(minutes=30)
    for instance_id in fleet.values():  # running since before the claim below, as in life
        aws.launched_at(instance_id, past - timedelta(days=14))
    bot.scheduled()
    stuck, expired = bot.report_rows()[:2]
    services = aws.services()
    services.store.transition(stuck.decision_id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                              event="stop-requested", now=past, actor="U0ALICE")  # a run that then died
    aws.set_expiry(expired.decision_id, past)
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}

    result = bot.invoke(event)

    assert (result["ok"], result["finished"], result["expired"], result["messages_updated"]) == (True, 1, 1, 1)
    assert services.store.get(stuck.decision_id).state is DecisionState.STOPPED
    assert services.store.get(expired.decision_id).state is DecisionState.EXPIRED
    blocks = bot.slack.message(CHANNEL, stuck.message.ts).blocks
    texts = {b["block_id"]: b["elements"][0].get("text", "") for b in blocks if b.get("type") == "context"
             and str(b.get("block_id", "")).startswith("act:")}
    assert "Stopped by" in texts[f"act:{stuck.decision_id}"]
    assert "expired" in texts[f"act:{expired.decision_id}"]
    assert not bot.slack.calls_to("chat.postMessage")[1:], "the sweep posts no new message"


def test_rows_the_sweep_expired_lose_their_buttons_even_when_a_later_step_of_it_fails(
    bot, fleet, aws: AwsEnv, capfd, caplog
):
    from datetime import UTC, datetime, timedelta

    from testkit.slack_requests import load_event
    from tests.calls import fail

    bot.scheduled()
    expired = bot.report_rows()[0]
    aws.set_expiry(expired.decision_id, datetime.now(UTC) - timedelta(minutes=30))
    # pynamodb cannot list the decisions still to publish: the sweep's last step, after the expiry.
    fault = fail(bot.lambda_bot().runtime.services.store.client, "Query", "ProvisionedThroughputExceededException",
                 when=lambda body: b"outbox-updated" in body)
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}
    try:
        result = bot.invoke(event)
    finally:
        fault.remove()

    assert (result["ok"], result["expired"], result["messages_updated"]) == (False, 1, 1)
    assert [e.split(":")[0] for e in result["errors"]] == ["unpublished decisions not listed"]
    status = row_block(bot.slack, CHANNEL, expired.message.ts, expired.decision_id)
    assert status["type"] == "context" and "expired" in status["elements"][0]["text"]
    assert aws.services().store.get(expired.decision_id).state is DecisionState.EXPIRED
    assert '"RepairSweepErrors":[1.0]' in capfd.readouterr().out
    assert "repair sweep left errors" in [r.getMessage() for r in caplog.records]
