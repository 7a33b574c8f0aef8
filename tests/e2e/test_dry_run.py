"""Dry run end to end (issue 15, part 3): the scheduled report and a signed Stop click with REAPER_DRY_RUN=true
stop nothing on moto, and every message, row and record says so."""

from __future__ import annotations

import pytest

from reaper.model import DecisionState
from tests.aws import AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import CHANNEL, SlackDriver


def state(aws: AwsEnv, instance_id: str) -> str:
    reservations = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def test_a_dry_run_report_and_click_stop_nothing_and_say_so(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REAPER_DRY_RUN", "true")
    bot.scheduled()
    (post,) = bot.slack.calls_to("chat.postMessage")
    assert post.params["text"].startswith("DRY RUN.") and "(DRY RUN)" in post.params["blocks"][0]["text"]["text"]
    rows = bot.report_rows()
    assert len(rows) == 2
    aws_calls.clear()

    for row in rows:
        bot.click(row, user="U0ALICE")
        bot.wait_for_lazy()

    assert {state(aws, i) for i in fleet.values()} == {"running"}
    assert aws_calls.count("StopInstances") == 2  # both sent, each with DryRun=True (moto answered DryRunOperation)
    store = aws.services().store
    for row in rows:
        assert store.get(row.decision_id).state is DecisionState.WOULD_STOP
        status = next(b for b in bot.slack.message(CHANNEL, row.message.ts).blocks
                      if b.get("block_id") == f"act:{row.decision_id}")
        assert status["elements"][0]["text"].startswith(":test_tube: DRY RUN: would stop")
