"""`/reaper scan|status|help|<anything else>` through the Lambda handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from reaper.decisions import new_id
from reaper.model import Decision, DecisionState
from testkit.slack_requests import CHANNEL, command_body
from tests.aws import HOME, OTHER, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver


def ack_body(response: dict) -> dict:
    assert response["statusCode"] == 200
    return json.loads(response["body"]) if response["body"] else {}


def responses(driver: SlackDriver) -> list[dict]:
    return [c.params for c in driver.slack.calls if c.method.startswith("response_url")]


def test_help_answers_with_the_usage_privately(driver: SlackDriver):
    body = ack_body(driver.command("help"))

    assert body["response_type"] == "ephemeral"
    assert "/reaper scan [region …]" in json.dumps(body["blocks"], ensure_ascii=False)
    driver.wait_for_lazy()
    assert not driver.lam.invocations


def test_no_subcommand_means_help(driver: SlackDriver):
    body = ack_body(driver.command(""))

    assert "usage" in json.dumps(body["blocks"])
    assert "Unknown" not in json.dumps(body)


def test_an_unknown_subcommand_gets_the_usage_and_an_error_never_a_5xx(driver: SlackDriver):
    body = ack_body(driver.command("bogus things"))

    assert body["response_type"] == "ephemeral"
    assert "Unknown subcommand `bogus`" in body["blocks"][0]["text"]["text"]
    assert "usage" in body["blocks"][1]["text"]["text"]


def test_scan_acks_at_once_then_posts_the_report_in_the_invoking_channel(bot: SlackDriver, fleet):
    bot.lam.hold()  # the lazy scan starts only after the ack is inspected, however busy the machine
    response = bot.post(command_body("scan", channel="C0DEVS", response_url=bot.slack.response_url()), version=1)
    body = ack_body(response)
    posted_at_ack = bot.slack.calls_to("chat.postMessage")
    bot.wait_for_lazy()

    assert body["text"].startswith(":mag: Scanning us-east-1")
    assert posted_at_ack == []
    [post] = bot.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0DEVS"
    assert fleet["dev-alice-sandbox"] in json.dumps(post.params["blocks"])


def test_scan_of_a_region_that_is_not_configured_is_refused(bot: SlackDriver, fleet):
    body = ack_body(bot.command("scan mars-north-1"))
    bot.wait_for_lazy()

    assert "Not a configured region: mars-north-1" in body["blocks"][0]["text"]["text"]
    assert not bot.slack.calls_to("chat.postMessage")


def test_scan_takes_regions_comma_separated_as_reaper_regions_does(bot: SlackDriver, fleet, monkeypatch):
    monkeypatch.setenv("REAPER_REGIONS", f"{HOME},{OTHER}")

    body = ack_body(bot.command(f"scan {HOME},{OTHER}"))
    bot.wait_for_lazy()

    assert body["text"] == f":mag: Scanning {HOME}, {OTHER}… the report will appear here."
    [post] = bot.slack.calls_to("chat.postMessage")
    assert f"running instances in {HOME}, {OTHER}" in json.dumps(post.params["blocks"])


def test_scan_of_a_region_named_twice_scans_it_once(bot: SlackDriver, fleet, aws_calls: AwsCalls):
    aws_calls.clear()

    body = ack_body(bot.command(f"scan {HOME} {HOME},"))
    bot.wait_for_lazy()

    assert body["text"] == f":mag: Scanning {HOME}… the report will appear here."
    assert aws_calls.count("DescribeInstances") == 1
    [post] = bot.slack.calls_to("chat.postMessage")
    assert "*2 idle* of 3 running instances" in json.dumps(post.params["blocks"])


def test_status_lists_the_latest_decisions_privately(bot: SlackDriver, fleet, aws: AwsEnv):
    bot.scheduled()
    row = bot.report_rows()[0]
    bot.click(row, user="U0ALICE")
    bot.wait_for_lazy()
    decision = aws.services().store.get(row.decision_id)
    assert decision.state is DecisionState.STOPPED

    ack_body(bot.command("status"))
    bot.wait_for_lazy()

    [reply] = responses(bot)
    assert reply["response_type"] == "ephemeral"
    text = json.dumps(reply["blocks"])
    assert decision.instance_id in text and "*stopped* by <@U0ALICE>" in text


def test_status_shows_the_decisions_people_made_not_the_rows_that_expired(bot: SlackDriver, aws: AwsEnv):
    store = aws.services().store
    now = datetime.now(UTC)
    earlier, later = now - timedelta(hours=2), now - timedelta(hours=1)

    def row(instance_id: str) -> str:
        decision = Decision(new_id(), instance_id, HOME, DecisionState.PENDING, earlier, now + timedelta(days=1),
                            channel=CHANNEL, message_ts="1.1")
        store.add_rows([decision])
        return decision.id

    for instance_id, outcome, reason in [("i-stopped", DecisionState.STOPPED, "EC2 reports the instance stopping"),
                                         ("i-skipped", DecisionState.SKIPPED, "tagged reaper:exempt"),
                                         ("i-failed", DecisionState.FAILED, "StopInstances failed: boom")]:
        decision_id = row(instance_id)
        store.transition(decision_id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                         event="stop-requested", now=earlier, actor="U0ALICE")
        store.transition(decision_id, source=DecisionState.STOPPING, target=outcome, event=outcome.value,
                         now=earlier, reason=reason)
    store.transition(row("i-kept"), source=DecisionState.PENDING, target=DecisionState.KEPT, event="kept",
                     now=earlier, actor="U0BOB", keep_until=now + timedelta(days=7))
    for n in range(12):  # a fortnight of daily reports nobody answered, all newer than the decisions
        store.transition(row(f"i-unanswered-{n}"), source=DecisionState.PENDING, target=DecisionState.EXPIRED,
                         event="expired", now=later, reason="no decision before the row expired")

    ack_body(bot.command("status"))
    bot.wait_for_lazy()

    [reply] = responses(bot)
    text = json.dumps(reply["blocks"])
    for instance_id, state, who in [("i-stopped", "stopped", "U0ALICE"), ("i-skipped", "skipped", "U0ALICE"),
                                    ("i-failed", "failed", "U0ALICE"), ("i-kept", "kept", "U0BOB")]:
        assert f"`{instance_id}` {HOME}: *{state}* by <@{who}>" in text
    assert "expired" not in text and "i-unanswered" not in text


def test_status_with_no_decisions_says_so(bot: SlackDriver):
    bot.command("status")
    bot.wait_for_lazy()

    [reply] = responses(bot)
    assert "No decisions yet" in reply["text"]


def test_a_failing_scan_is_reported_to_the_user(driver: SlackDriver, aws: AwsEnv):
    # No table exists: the scan's first DynamoDB read fails inside the lazy listener.
    ack_body(driver.command("scan"))
    driver.wait_for_lazy()

    [reply] = responses(driver)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(":x: The scan failed (StoreNotReady: DynamoDB table")
    assert not driver.slack.calls_to("chat.postMessage")


def test_the_handler_logs_at_info_after_bolt_has_handled_a_request(driver: SlackDriver):
    # Bolt configures a logger named after its app with its own (WARNING) level; an app
    # named like the Powertools service silenced the handler's INFO lines after one request.
    import logging

    from bot.handler import logger

    driver.command("help")

    assert logging.getLogger(logger.name).getEffectiveLevel() == logging.INFO


def test_a_scan_in_a_channel_the_bot_is_not_in_says_how_to_fix_it(bot: SlackDriver, fleet):
    bot.slack.not_a_member.add("C0ELSEWHERE")

    ack_body(bot.post(command_body("scan", channel="C0ELSEWHERE", response_url=bot.slack.response_url())))
    bot.wait_for_lazy()

    [reply] = responses(bot)
    assert reply["response_type"] == "ephemeral"
    assert "not a member of this channel" in reply["text"] and "/invite" in reply["text"]
