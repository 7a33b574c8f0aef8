"""Rows whose stop protection was not asked within the scan's time budget (issue 20), end to end:
offered and saying so, and a Stop click asks EC2 and refuses what is protected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks import STOP_ACTION
from demo.fleet import Machine, launch
from reaper.model import DecisionState
from tests.aws import HOME, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import CHANNEL, SlackDriver


def test_a_row_not_yet_checked_is_offered_and_its_stop_refused_when_protection_is_on(
    bot: SlackDriver, aws: AwsEnv, aws_calls: AwsCalls, test_clients: Callable[[str, str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = launch(test_clients, [
        Machine("protected-db", HOME, [0.5] * 14, [0.5] * 14, "t3.large", "carol", stop_protected=True),
        Machine("plain-box", HOME, [0.5] * 14, [0.5] * 14, "t3.large", "dave"),
    ])
    monkeypatch.setenv("REAPER_LOOKUP_SECONDS", "0")  # a budget already spent: nothing is asked at scan time
    aws_calls.clear()

    result = bot.scheduled()

    assert result["ok"] and result["idle"] == 2
    assert aws_calls.count("DescribeInstanceAttribute") == 0
    services = aws.services()
    rows = {services.store.get(row.decision_id).instance_id: row for row in bot.report_rows()}
    assert set(rows) == {ids["protected-db"], ids["plain-box"]}
    [post] = bot.slack.calls_to("chat.postMessage")
    row_text = next(b["text"]["text"] for b in post.params["blocks"]
                    if b.get("block_id", "").endswith(rows[ids["protected-db"]].decision_id)
                    and b["type"] == "section")
    assert "stop protection not yet checked (Stop checks it first)" in row_text

    bot.click(rows[ids["protected-db"]], STOP_ACTION, user="U0ALICE")
    bot.wait_for_lazy()

    decision = services.store.get(rows[ids["protected-db"]].decision_id)
    assert decision.state is DecisionState.SKIPPED and decision.reason == "stop protection is enabled"
    assert aws_calls.count("DescribeInstanceAttribute") == 1  # the click asked EC2 itself
    assert aws_calls.count("StopInstances") == 0
    assert "stop protection is enabled" in str(bot.slack.message(CHANNEL, rows[ids["protected-db"]].message.ts).blocks)
