"""Fan-out (issue 15) end to end: the scheduled report fans out to SQS, and SQS events delivered to
lambda_handler as Lambda delivers them (duplicates, any order, several records a batch) post the
report exactly once — when the last shard is in, or at the deadline, naming the shards missing.

The shard messages are the ones the report really sent, received from moto's queue; the deadline
message is delayed by SQS (REAPER_FANOUT_DEADLINE, at least a minute), so the test delivers its
body as received from the same send without waiting for the delay to pass.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.aws import HOME, AwsEnv
from tests.e2e.driver import CHANNEL, SlackDriver
from tests.integration.conftest import quiet
from tests.members import ACCOUNTS, Members

MEMBERS = ACCOUNTS[:4]


@pytest.fixture
def queue(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    url: str = aws.client("sqs").create_queue(QueueName=f"shards-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for key, value in {"REAPER_ACCOUNTS": ",".join(MEMBERS), "REAPER_SHARD_QUEUE": url,
                       "REAPER_FANOUT_SHARDS": "3", "REAPER_FANOUT_DEADLINE": "60"}.items():
        monkeypatch.setenv(key, value)
    return url


def received(aws: AwsEnv, url: str) -> list[dict[str, Any]]:
    """Every visible message of the queue, as the event source would receive them (and delete them)."""
    sqs, messages = aws.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        messages += batch
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)])
    return messages


def sqs_event(url: str, *bodies: str) -> dict[str, Any]:
    """An SQS event as Lambda delivers it to a function (the shape of tests/events and AWS's docs)."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "handle", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(), "eventSource": "aws:sqs",  # noqa: S324 - SQS's own checksum
        "eventSourceARN": f"arn:aws:sqs:{HOME}:123456789012:{url.rsplit('/', 1)[1]}", "awsRegion": HOME,
    } for body in bodies]}


def reports(bot: SlackDriver) -> list[Any]:
    return [m for m in bot.slack.messages.values() if m.channel == CHANNEL and m.thread_ts is None]


@pytest.fixture
def fanned_out(bot: SlackDriver, aws: AwsEnv, queue: str) -> tuple[dict[str, Any], list[str]]:
    members = Members(aws)
    for n, account in enumerate(MEMBERS):
        members.seed(account, [quiet(f"idle-{n}")])
    result = bot.scheduled()
    return result, [m["Body"] for m in received(aws, queue)]


def test_a_report_with_more_shards_than_the_threshold_fans_out_one_message_per_shard(
    bot: SlackDriver, fanned_out: tuple[dict[str, Any], list[str]],
) -> None:
    result, bodies = fanned_out

    assert result["ok"] and result["fanned_out"] == 4
    assert sorted(json.loads(b)["shard"] for b in bodies) == sorted(f"{a}/{HOME}" for a in MEMBERS)
    assert {json.loads(b)["run"] for b in bodies} == {result["run"]}
    assert reports(bot) == []  # nothing is posted until the shards are in


def test_shards_delivered_twice_and_out_of_order_post_the_report_once_when_the_last_is_in(
    bot: SlackDriver, aws: AwsEnv, queue: str, fanned_out: tuple[dict[str, Any], list[str]],
) -> None:
    _result, bodies = fanned_out
    first, *rest = list(reversed(bodies))

    answers = [bot.invoke(sqs_event(queue, first, first))]  # a duplicate in one batch
    answers += [bot.invoke(sqs_event(queue, body)) for body in rest[:-1]]
    assert reports(bot) == []
    answers += [bot.invoke(sqs_event(queue, rest[-1], first))]  # the last shard, and a redelivery
    answers += [bot.invoke(sqs_event(queue, *bodies))]  # everything again, after the post

    assert all(a["batchItemFailures"] == [] for a in answers)
    (report,) = reports(bot)
    rows = bot.report_rows()
    assert len(rows) == 4 and "4 idle" in report.text
    assert all(account in json.dumps(report.blocks) for account in MEMBERS)


def test_the_deadline_posts_what_is_in_and_names_the_missing_shards(
    bot: SlackDriver, aws: AwsEnv, queue: str, fanned_out: tuple[dict[str, Any], list[str]],
) -> None:
    result, bodies = fanned_out
    deadline = json.dumps({"reaper": "deadline", "run": result["run"]}, sort_keys=True)
    missing = sorted(json.loads(b)["shard"] for b in bodies[2:])

    bot.invoke(sqs_event(queue, *bodies[:2]))
    bot.invoke(sqs_event(queue, deadline))
    bot.invoke(sqs_event(queue, *bodies[2:], deadline))  # late shards and a second deadline change nothing

    (report,) = reports(bot)
    assert "Not scanned" in json.dumps(report.blocks) and all(m in report.text for m in missing)
    assert len(bot.report_rows()) == 2
