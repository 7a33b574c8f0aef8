"""No secret in the logs: the main flows end to end, every log line and every byte on stdout/stderr scanned.

Run with the logging bot.handler configures for Lambda (Powertools at INFO, Bolt and the
SDK at WARNING), then again with the root logger, Powertools and our loggers at DEBUG, which
is what someone troubleshooting would turn on.
"""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from aws_lambda_powertools.utilities.parameters import clear_caches

from bot.blocks import KEEP_ACTION, STOP_ACTION
from bot.handler import logger as handler_logger
from testkit.slack_requests import SIGNING_SECRET, button_body, command_body, load_event
from tests.aws import AwsEnv
from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.driver import SlackDriver
from tests.reliability.capture import LogCapture
from tests.reliability.figures import Figures

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

NEEDLES = ["xoxb-", "xoxp-", "xapp-", SIGNING_SECRET, "v0=", "/response/", "hooks.slack.com",
           "legacy-verification-token"]


def run_main_flows(bot: SlackDriver, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every flow a production day has; returns the raw bodies sent, to look for them in the logs too."""
    sent: list[str] = []

    def post(body: str, **kwargs: object) -> None:
        sent.append(body)
        bot.post(body, **kwargs)  # type: ignore[arg-type]
        bot.wait_for_lazy()

    aws.client("secretsmanager").create_secret(
        Name="instance-reaper/slack",
        SecretString=json.dumps({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}),
    )
    monkeypatch.setenv("REAPER_SLACK_SECRET", "instance-reaper/slack")
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.delenv("SLACK_SIGNING_SECRET")

    bot.scheduled()                                                    # the daily report
    first, second = bot.report_rows()
    url = bot.slack.response_url
    post(command_body("scan", response_url=url("scan")))             # /reaper scan, report via the lazy path
    post(command_body("status", response_url=url("status")))
    post(command_body("bogus", response_url=url("bogus")))
    post(button_body(first.message, first.decision_id, STOP_ACTION, "U0ALICE", url("stop")), version=1)
    post(button_body(second.message, second.decision_id, KEEP_ACTION, "U0BOB", url("keep")))
    post(command_body("status", response_url=url("forged")), secret="not-the-secret")           # refused: forged
    post(command_body("status", response_url=url("stale")), timestamp=int(time.time()) - 400)   # refused: stale
    monkeypatch.setenv("REAPER_APPROVERS", "U0CAROL")
    post(button_body(first.message, first.decision_id, STOP_ACTION, "U0ALICE", url("not-approver")))
    monkeypatch.setenv("SLACK_TEAM_ID", "T0ELSEWHERE")
    post(command_body("status", response_url=url("other-team")))                               # refused: team
    monkeypatch.delenv("SLACK_TEAM_ID")
    monkeypatch.delenv("REAPER_APPROVERS")
    bot.slack.rate_limit("chat.update", 1000)                                                  # a lazy failure
    post(button_body(first.message, first.decision_id, STOP_ACTION, "U0ALICE", url("failing")))
    bot.slack.rate_limit("chat.update", 0)
    bot.invoke(reconcile_event())                                                              # the repair sweep
    return sent


def reconcile_event() -> dict[str, object]:
    event = load_event("scheduled_event.json")
    event["detail"] = {"task": "reconcile"}
    return event


def leaks(lines: list[str], bodies: list[str]) -> dict[str, int]:
    needles = NEEDLES + bodies + [base64.b64encode(b.encode()).decode() for b in bodies]
    found: dict[str, int] = {}
    for line in lines:
        for needle in needles:
            if needle in line:
                key = needle if needle in NEEDLES else f"a raw request body ({needle[:30]}…)"
                found[key] = found.get(key, 0) + 1
    return found


@pytest.mark.parametrize("levels", ["production", "debug"])
def test_no_secret_reaches_the_logs(bot: SlackDriver, fleet, aws: AwsEnv, monkeypatch: pytest.MonkeyPatch,
                                    capfd: pytest.CaptureFixture[str], figures: Figures, levels: str) -> None:
    capfd.readouterr()
    logs = LogCapture(monkeypatch)
    if levels == "debug":
        for name in ("", handler_logger.name, "bot", "reaper"):
            logger = logging.getLogger(name)
            monkeypatch.setattr(logger, "level", logging.DEBUG)
        logging.getLogger().manager._clear_cache()  # type: ignore[attr-defined]

    try:
        bodies = run_main_flows(bot, aws, monkeypatch)
    finally:
        clear_caches()  # Powertools Parameters keeps the secret for an hour; later tests count its reads
    out, err = capfd.readouterr()
    logging.getLogger().manager._clear_cache()  # type: ignore[attr-defined]

    lines = logs.lines() + out.splitlines() + err.splitlines()
    found = leaks(lines, bodies)
    label = ("production logging (Powertools INFO, Bolt and slack_sdk WARNING)" if levels == "production"
             else "root, Powertools and our loggers at DEBUG")
    figures.record("secrets", f"main flows end to end, {label}", tried=len(lines), unwanted=sum(found.values()),
                   note=f"{len(lines)} lines scanned ({len(logs.records)} log records) for tokens, the signing "
                   "secret, v0= signatures, response_urls and raw bodies")
    assert len(logs.records) > 20 and any(r.getMessage() == "Stopping the instance failed" for r in logs.records)
    assert found == {}, [line[:160] for line in lines if any(n in line for n in NEEDLES)][:8]
