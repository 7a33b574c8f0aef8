"""Failures inside lazy work reach the message; expired rows are refused; secrets come from Secrets Manager."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.config import SlackConfig
from bot.errors import BotConfigError
from reaper.model import DecisionState
from testkit.slack_requests import CHANNEL, SIGNING_SECRET
from tests.aws import AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.driver import Row, SlackDriver


def test_a_claim_dynamodb_refuses_stops_nothing_keeps_the_buttons_and_tells_the_clicker(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls
):
    bot.scheduled()
    row = bot.report_rows()[0]
    aws_calls.clear()
    aws_calls.fail_next("UpdateItem")

    bot.click(row)
    bot.wait_for_lazy()

    assert aws_calls.count("StopInstances") == 0
    assert aws.services().store.get(row.decision_id).state is DecisionState.PENDING
    actions = next(b for b in bot.slack.message(CHANNEL, row.message.ts).blocks
                   if b.get("block_id") == f"act:{row.decision_id}")
    assert actions["type"] == "actions"  # still clickable: nothing happened
    [told] = [c.params["text"] for c in bot.slack.calls_to("chat.postEphemeral")]
    assert told.startswith("Nothing was stopped: the decision could not be recorded (DynamoDB: ValidationException")


def test_an_expired_row_is_refused_and_changes_nothing(bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    services = aws.services()
    live = services.store.get(row.decision_id)
    expired = replace(live, id="expired-row-id-000000", created_at=live.created_at - timedelta(days=5),
                      expires_at=live.created_at - timedelta(days=2))
    services.store.add_rows([expired])
    aws_calls.clear()

    bot.click(Row(expired.id, row.message))
    bot.wait_for_lazy()

    assert aws_calls.succeeded("UpdateItem") == 0 and aws_calls.count("StopInstances") == 0
    assert services.store.get(expired.id).state is DecisionState.PENDING
    assert any("expired" in c.params["text"] for c in bot.slack.calls_to("chat.postEphemeral"))


def test_slack_secrets_are_read_once_from_secrets_manager(
    bot: SlackDriver, aws: AwsEnv, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch
):
    aws.client("secretsmanager").create_secret(
        Name="instance-reaper/slack",
        SecretString=json.dumps({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}),
    )
    monkeypatch.setenv("REAPER_SLACK_SECRET", "instance-reaper/slack")
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    aws_calls.clear()

    first = bot.command("help")
    second = bot.command("bogus")

    assert first["statusCode"] == second["statusCode"] == 200
    assert aws_calls.count("GetSecretValue") == 1


def test_a_missing_signing_secret_answers_500_without_raising(driver: SlackDriver, monkeypatch):
    monkeypatch.delenv("SLACK_SIGNING_SECRET")

    response = driver.command("help")

    assert response["statusCode"] == 500
    assert "SIGNING" not in response["body"]


@pytest.mark.parametrize("approvers", ["alice", "U0ALICE,#ops", "C0OPS"])
def test_approvers_must_be_user_or_group_ids(approvers: str):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "REAPER_APPROVERS": approvers}

    with pytest.raises(BotConfigError, match="REAPER_APPROVERS"):
        SlackConfig.from_env(env)


def test_approvers_split_into_users_and_groups():
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "REAPER_APPROVERS": "U0A, W0B,S0C"}

    config = SlackConfig.from_env(env)

    assert config.approver_users == {"U0A", "W0B"} and config.approver_groups == {"S0C"}
    assert config.api_url == "https://slack.com/api/"


def test_a_scheduled_report_to_a_channel_the_bot_is_not_in_names_the_fix(bot: SlackDriver, fleet):
    bot.slack.not_a_member.add(CHANNEL)

    result = bot.scheduled()

    assert result["ok"] is False
    assert result["error"] == f"NotInChannel: the bot is not a member of channel {CHANNEL}: invite it with /invite"


def test_a_scheduled_report_whose_every_region_fails_says_so_in_the_channel(
    bot: SlackDriver, fleet, aws_calls: AwsCalls, capfd: pytest.CaptureFixture[str]
):
    aws_calls.fail_next("DescribeInstances", times=10)  # an answer EC2's parser cannot read, every time
    try:
        result = bot.scheduled()
    finally:
        aws_calls.fail_next("DescribeInstances", times=0)  # the recorder outlives the test

    assert result["ok"] is False and result["error"].startswith("AwsUnavailable: us-east-1: DescribeInstances")
    [post] = bot.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL and not [b for b in post.params["blocks"] if b["type"] == "actions"]
    text = post.params["blocks"][0]["text"]["text"]
    assert text.startswith(":warning: *Today's idle-instance report could not be made:* no region could be "
                           "scanned (us-east-1: DescribeInstances")
    assert text.endswith("Nothing was offered or stopped; the next scheduled run will try again.")
    assert '"ScheduledTaskFailures"' in capfd.readouterr().out  # the metric as before


def test_a_scheduled_report_whose_scan_raises_says_so_in_the_channel(driver: SlackDriver, aws: AwsEnv):
    # No table: the scan's first read (the active Keeps) raises StoreNotReady.
    result = driver.scheduled()

    assert result["ok"] is False
    [post] = driver.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    assert (f"the scan failed: DynamoDB table {aws.table} does not exist: run `python -m reaper init`"
            in post.params["blocks"][0]["text"]["text"])
    assert post.params["text"].startswith("The idle-instance report could not be made: the scan failed: DynamoDB")
