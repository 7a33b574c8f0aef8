"""The grace-period stop end to end (issue 15, part 4), with a clock the test controls: two scheduled reports
nobody answers announce it, a Keep cancels it, the repair sweep carries it out at the deadline, never twice.

The bot is the Lambda handler's own (built from the environment, as Lambda's init phase builds it); only its
clock is swapped for one the test moves. moto's metrics are real datapoints up to yesterday (real time), so
the reports a day later still judge 13 whole days, and the 30-day history holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from demo.fleet import Machine, launch
from reaper.model import DecisionState
from tests.aws import HOME, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import CHANNEL, Row, SlackDriver, load_event
from tests.fakes.core import FakeClock

FORGOTTEN = Machine("forgotten-box", HOME, [0.6] * 35, [0.4] * 35, "t3.large", "nobody")
ANNOUNCEMENT = "will be stopped at {at} UTC tomorrow unless someone presses Keep"


@pytest.fixture
def clock(bot: SlackDriver, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """REAPER_AUTO_STOP_AFTER=2, and the bot's clock, from now on, in the test's hands."""
    monkeypatch.setenv("REAPER_AUTO_STOP_AFTER", "2")
    clock = FakeClock(datetime.now(UTC))
    runtime = bot.lambda_bot().runtime
    runtime.services = replace(runtime.services, clock=clock)
    return clock


@pytest.fixture
def forgotten(aws: AwsEnv, test_clients: Callable[[str, str], Any]) -> str:
    return launch(test_clients, [FORGOTTEN])["forgotten-box"]


def state(aws: AwsEnv, instance_id: str) -> str:
    reservations = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def sweep(bot: SlackDriver) -> dict[str, Any]:
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}
    result: dict[str, Any] = bot.invoke(event)
    return result


def two_unanswered_reports(bot: SlackDriver, clock: FakeClock) -> Row:
    """The report of today and of tomorrow, nobody clicking; the second one's row."""
    assert bot.scheduled()["idle"] == 1
    assert not [c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]
    clock.advance(days=1)
    assert bot.scheduled()["idle"] == 1
    return bot.report_rows()[-1]


def test_announced_in_the_thread_then_stopped_by_the_sweep_at_the_deadline_once(
    bot: SlackDriver, clock: FakeClock, forgotten: str, aws: AwsEnv, aws_calls: AwsCalls
) -> None:
    aws_calls.clear()
    row = two_unanswered_reports(bot, clock)
    deadline = clock() + timedelta(hours=24)

    (announcement,) = [c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]
    assert announcement.params["thread_ts"] == row.message.ts
    sentence = ANNOUNCEMENT.format(at=f"{deadline:%H:%M}")
    assert forgotten in str(announcement.params["blocks"]) and sentence in str(announcement.params["blocks"])
    assert sentence in str(bot.slack.message(CHANNEL, row.message.ts).blocks)  # the row says it too
    decision = aws.services().store.get(row.decision_id)
    assert (decision.unanswered, decision.auto_stop_at) == (2, deadline)

    clock.advance(hours=23, minutes=50)
    assert sweep(bot)["auto_stopped"] == 0 and state(aws, forgotten) == "running"
    clock.advance(minutes=10)
    at_deadline = sweep(bot)
    clock.advance(minutes=15)
    again = sweep(bot)

    assert (at_deadline["auto_stopped"], at_deadline["messages_updated"], again["auto_stopped"]) == (1, 1, 0)
    assert state(aws, forgotten) in ("stopping", "stopped")
    assert aws_calls.count("StopInstances") == 1
    stored = aws.services().store.get(row.decision_id)
    assert (stored.state, stored.actor) == (DecisionState.STOPPED, "reaper (unanswered for 2 reports)")
    status = next(b for b in bot.slack.message(CHANNEL, row.message.ts).blocks
                  if b.get("block_id") == f"act:{row.decision_id}")
    assert "Stopped by reaper (unanswered for 2 reports)" in status["elements"][0]["text"]
    audit = aws.services().audit
    keys = [k for k in audit.keys() if f"/{row.decision_id}/" in k]  # type: ignore[attr-defined]
    assert audit.get(keys[-1])["actor"] == "reaper (unanswered for 2 reports)"  # type: ignore[attr-defined]


def test_a_keep_before_the_deadline_cancels_it(
    bot: SlackDriver, clock: FakeClock, forgotten: str, aws: AwsEnv, aws_calls: AwsCalls
) -> None:
    row = two_unanswered_reports(bot, clock)
    bot.keep(row, user="U0BOB")
    bot.wait_for_lazy()
    aws_calls.clear()

    clock.advance(hours=24)
    result = sweep(bot)

    assert result["auto_stopped"] == 0 and aws_calls.count("StopInstances") == 0
    assert state(aws, forgotten) == "running"
    assert aws.services().store.get(row.decision_id).state is DecisionState.KEPT
