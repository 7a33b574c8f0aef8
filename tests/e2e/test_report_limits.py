"""Slack's limits: ≤ 50 blocks and ≤ 3000 characters per text; long reports continue in the thread."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.blocks import MAX_BLOCKS, MAX_TEXT, report_messages
from demo.fleet import Machine, launch
from reaper.model import (
    Decision,
    DecisionState,
    Evidence,
    Finding,
    Instance,
    ScanReport,
    Skip,
    SkipReason,
    Verdict,
    VerdictKind,
)
from testkit.slack_requests import CHANNEL
from tests.aws import HOME, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)


def finding(n: int, name: str = "", skip: SkipReason | None = None) -> Finding:
    instance = Instance(f"i-{n:017x}", HOME, "t3.large", NOW - timedelta(days=40), tags={"Name": name or f"box-{n}"})
    evidence = Evidence(14, 0.9, 0.5, 0.2, 0.4, 0)
    return Finding(instance, Verdict(VerdictKind.IDLE, evidence, "idle"), Skip(skip) if skip else None)


def decision(n: int) -> Decision:
    return Decision(f"id{n:020d}", f"i-{n:017x}", HOME, DecisionState.PENDING, NOW, NOW + timedelta(days=3))


def texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in ([v] if k == "text" and isinstance(v, str) else texts(v))]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def mrkdwn_texts(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


def test_a_long_report_is_split_into_messages_of_at_most_50_blocks():
    findings = [finding(n, name="x" * 250) for n in range(130)]
    skipped = [finding(1000 + n, skip=reason) for n, reason in enumerate(SkipReason)]
    report = ScanReport((HOME,), tuple(findings + skipped), NOW, NOW, {"eu-west-1": "AccessDenied: " + "y" * 5000})

    messages = report_messages(report, [(f, decision(n)) for n, f in enumerate(findings)], NOW)

    assert len(messages) == 7
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        assert all(len(t) <= MAX_TEXT for t in texts(message.blocks))
    ids = [e["value"] for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"][:1]]
    assert ids == [decision(n).id for n in range(130)]


def test_tag_values_cannot_mention_the_channel():
    report = ScanReport((HOME,), (finding(1, name="<!channel> & <@U123>"),), NOW, NOW)

    [message] = report_messages(report, [(report.findings[0], decision(1))], NOW)

    mrkdwn = json.dumps(mrkdwn_texts(message.blocks))  # plain_text is never parsed for mentions
    assert "<!channel>" not in mrkdwn and "&lt;!channel&gt; &amp; &lt;@U123&gt;" in mrkdwn


def test_a_report_longer_than_one_message_continues_in_thread_replies(bot: SlackDriver, aws: AwsEnv, test_clients):
    machines = [Machine(f"idle-{n:02d}", HOME, [0.5] * 4, [0.1] * 4) for n in range(21)]
    launch(test_clients, machines)

    result = bot.scheduled()

    assert result["ok"] and result["idle"] == 21
    first, reply = bot.slack.calls_to("chat.postMessage")
    assert "thread_ts" not in first.params or first.params["thread_ts"] is None
    assert len(first.params["blocks"]) <= MAX_BLOCKS
    first_ts = result["messages"][0]
    assert reply.params["thread_ts"] == first_ts
    rows = bot.report_rows()
    assert len(rows) == 21
    services = aws.services()
    assert {services.store.get(r.decision_id).message_ts for r in rows} == set(result["messages"])


def test_rows_that_cannot_be_recorded_lose_their_buttons_and_say_why(bot: SlackDriver, fleet, aws_calls: AwsCalls):
    aws_calls.fail_next("BatchWriteItem", when=lambda body: b'"pending"' in body)  # the rows, not the price cache

    result = bot.scheduled()

    assert result["ok"] is False and "ReportNotRecorded" in result["error"]
    [update] = bot.slack.calls_to("chat.update")
    assert update.params["channel"] == CHANNEL
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]
    assert "could not be recorded" in json.dumps(update.params["blocks"])


def test_the_repair_sweep_updates_a_row_in_a_thread_reply(bot: SlackDriver, aws: AwsEnv, test_clients):
    from testkit.slack_requests import load_event

    launch(test_clients, [Machine(f"idle-{n:02d}", HOME, [0.5] * 4, [0.1] * 4) for n in range(21)])
    posted = bot.scheduled()["messages"]
    [in_reply] = [r for r in bot.report_rows() if r.message.ts == posted[1]]
    aws.set_expiry(in_reply.decision_id, datetime.now(UTC) - timedelta(minutes=5))
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}

    result = bot.invoke(event)

    assert (result["expired"], result["messages_updated"]) == (1, 1)
    reply = bot.slack.message(CHANNEL, posted[1])
    [status] = [b for b in reply.blocks if b.get("block_id") == f"act:{in_reply.decision_id}"]
    assert status["type"] == "context" and "expired" in status["elements"][0]["text"]
