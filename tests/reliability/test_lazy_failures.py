"""No decision is lost in the Slack adapter's lazy work: Slack throttling, failures, and a lazy run that arrives late.

Faults are injected at the HTTP boundaries (FakeSlack's 429s, a DynamoDB error from the moto
wrapper) and the late arrival by moving the signature verifier's clock for the lazy
invocation only. The core-level faults are in test_faults.py.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from reaper.model import DecisionState
from reaper.ports import Services
from reaper.sweep import reconcile
from testkit.slack_requests import CHANNEL, load_event
from tests.aws import AwsEnv
from tests.calls import fail
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import Row, SlackDriver
from tests.reliability.capture import LogCapture
from tests.reliability.figures import Figures

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def later(services: Services, minutes: float) -> Services:
    return replace(services, clock=lambda: services.clock() + timedelta(minutes=minutes))


def row_text(bot: SlackDriver, row: Row) -> str:
    block = next(b for b in bot.slack.message(CHANNEL, row.message.ts).blocks
                 if b.get("block_id") == f"act:{row.decision_id}")
    return str(block)


def metric_lines(out: str, name: str) -> list[dict[str, Any]]:
    """Powertools' EMF documents on stdout that carry the metric."""
    found = []
    for line in out.splitlines():
        if '"_aws"' in line and name in line:
            document = json.loads(line)
            if name in document:
                found.append(document)
    return found


def test_slack_429_on_chat_update_is_retried_after_the_ack(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    store = aws.services().store
    unwanted, limited = 0, 0
    rows = bot.report_rows()
    for row, times in zip(rows, (1, 3), strict=True):  # 3 is as many as the client's retry handler waits out
        bot.slack.rate_limit("chat.update", times)
        before = len(bot.slack.calls_to("chat.update"))
        aws_calls.clear()
        bot.lam.hold()  # the lazy stop starts only after the ack is inspected, however busy the machine

        response = bot.click(row)
        updates_at_ack = len(bot.slack.calls_to("chat.update")) - before
        bot.wait_for_lazy()

        decision = store.get(row.decision_id)
        ok = (response["statusCode"] == 200 and updates_at_ack == 0 and decision.state is DecisionState.STOPPED
              and aws_calls.count("StopInstances") == 1 and "Stopped by" in row_text(bot, row))
        unwanted += not ok
        limited += times
        assert ok, (response, updates_at_ack, decision, aws_calls.operations)
    figures.record("faults", "Slack 429 on chat.update during a stop", tried=len(rows), unwanted=unwanted,
                   note=f"{limited} throttled updates retried in the lazy work, after the ack; one StopInstances each")


def test_a_dynamodb_error_on_the_outcome_write_is_told_truthfully_and_recorded_by_the_sweep(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot.scheduled()
    row = bot.report_rows()[0]
    logs = LogCapture(monkeypatch)
    record = aws_calls._record

    def outcome_write_fails(environ: dict[str, Any]) -> str:
        # The DynamoDB write right after StopInstances (the outcome) gets an error from "AWS".
        operation = record(environ)
        if operation == "StopInstances":
            aws_calls.fail_next("UpdateItem")
        return operation

    monkeypatch.setattr(aws_calls, "_record", outcome_write_fails)
    aws_calls.clear()

    bot.click(row)
    bot.wait_for_lazy()

    services = aws.services()
    decision = services.store.get(row.decision_id)
    told = any("not yet recorded" in str(c.params.get("text")) for c in bot.slack.calls_to("chat.postEphemeral"))
    shown = "Stopping… requested by" in row_text(bot, row)
    logged = any(r.getMessage().startswith("outcome of decision") for r in logs.records)
    stops = aws_calls.count("StopInstances")
    swept = reconcile(later(services, 10))
    finished = services.store.get(row.decision_id)

    figures.record("faults", "DynamoDB error on the outcome write in lazy work", tried=1,
                   unwanted=3 - sum((told, shown, logged)) + abs(stops - 1),
                   lost=int(finished.state is not DecisionState.STOPPED),
                   note="the clicker is told the stop is not yet recorded, the row shows it stopping, "
                        "logged; the sweep records it")
    assert stops == 1, aws_calls.operations
    assert decision.state is DecisionState.STOPPING and (told, shown, logged) == (True, True, True)
    assert [d.id for d in swept.finished] == [row.decision_id] and finished.state is DecisionState.STOPPED


def test_a_pynamodb_error_marking_the_audit_published_tells_the_truth_and_the_sweep_publishes(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    rows = bot.report_rows()
    # pynamodb's own botocore client in the Lambda: the bookkeeping write after S3 fails, every attempt.
    store_client = bot.lambda_bot().runtime.services.store.client  # type: ignore[attr-defined]
    fault = fail(store_client, "UpdateItem", "ProvisionedThroughputExceededException",
                 when=lambda body: b"published_seq" in body)
    aws_calls.clear()
    try:
        for row in rows:
            bot.click(row)
            bot.wait_for_lazy()
    finally:
        fault.remove()

    store = aws.services().store
    clicked = [store.get(row.decision_id) for row in rows]
    shown = [row_text(bot, row) for row in rows]
    told = [str(c.params.get("text")) for c in bot.slack.calls_to("chat.postEphemeral")]
    stops = aws_calls.count("StopInstances")
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}
    swept = bot.invoke(event)
    settled = [store.get(row.decision_id) for row in rows]

    truthful = all("Stopped by" in text for text in shown) and not any(":x:" in text for text in told)
    figures.record("faults", "pynamodb error on the write marking the audit published, then one sweep",
                   tried=len(rows), unwanted=abs(stops - len(rows)) + int(not truthful),
                   lost=sum(d.state is not DecisionState.STOPPED or d.unpublished for d in settled),
                   note=f"{fault()} UpdateItem attempts refused; rows read Stopped, no :x: told; "
                        f"the sweep published {swept['published']}")
    assert fault() >= len(rows) and stops == len(rows), aws_calls.operations
    assert all(d.state is DecisionState.STOPPED and d.unpublished for d in clicked)
    assert truthful, (shown, told)
    assert swept["ok"] and swept["published"] == len(rows)
    assert not any(d.unpublished for d in settled)


def test_chat_update_failing_for_good_still_reaches_the_clicker(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    bot.scheduled()
    row = bot.report_rows()[0]
    logs = LogCapture(monkeypatch)
    bot.slack.rate_limit("chat.update", 1000)
    aws_calls.clear()
    capfd.readouterr()

    bot.click(row)
    bot.wait_for_lazy()

    decision = aws.services().store.get(row.decision_id)
    recorded = "Stopping the instance failed (SlackApiError" in (decision.last_error or "")
    told = any(":x: Stopping the instance failed" in str(c.params.get("text"))
               for c in bot.slack.calls_to("chat.postEphemeral"))
    logged = any(r.getMessage() == "Stopping the instance failed" for r in logs.records)
    counted = bool(metric_lines(capfd.readouterr().out, "LazyFailures"))
    stops = aws_calls.count("StopInstances")
    figures.record("faults", "chat.update failing for good during a stop", tried=1,
                   unwanted=4 - sum((recorded, told, logged, counted)) + abs(stops - 1),
                   lost=int(decision.state is not DecisionState.STOPPED),
                   note="the stop still happens once and is recorded; the clicker is told the message could "
                        "not be updated")
    assert (recorded, told, logged, counted) == (True, True, True, True), decision
    assert stops == 1 and decision.state is DecisionState.STOPPED


def test_a_lazy_run_arriving_too_late_is_refused_and_left_for_the_sweep(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slack_sdk.signature import Clock

    bot.scheduled()
    row = bot.report_rows()[0]
    late = threading.local()
    monkeypatch.setattr(Clock, "now", lambda _self: time.time() + (400 if getattr(late, "on", False) else 0))
    handler = bot.lam.handler

    def arrives_400_seconds_later(event: dict[str, Any], context: Any) -> Any:
        late.on = True  # Lambda's async queue held the self-invocation for 400 s
        try:
            return handler(event, context)
        finally:
            late.on = False

    monkeypatch.setattr(bot.lam, "handler", arrives_400_seconds_later)
    aws_calls.clear()

    ack = bot.click(row)
    bot.wait_for_lazy()

    services = aws.services()
    left = services.store.get(row.decision_id)
    [lazy] = bot.lam.results
    minutes = math.ceil((left.expires_at - services.clock()).total_seconds() / 60) + 1
    swept = reconcile(later(services, minutes))
    settled = services.store.get(row.decision_id)

    refused = ack["statusCode"] == 200 and lazy["statusCode"] == 401
    figures.record("faults", "lazy self-invocation arriving after 5 minutes", tried=1,
                   unwanted=int(not refused) + aws_calls.count("StopInstances"),
                   lost=int(settled.state is not DecisionState.EXPIRED),
                   note="refused 401; the row stays pending, then the repair sweep expires it")
    assert refused, (ack, lazy)
    assert aws_calls.count("StopInstances") == 0 and left.state is DecisionState.PENDING
    assert row.decision_id in [d.id for d in swept.expired] and settled.state is DecisionState.EXPIRED
