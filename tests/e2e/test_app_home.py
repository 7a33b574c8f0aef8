"""App Home end to end: a signed app_home_opened event → lambda_handler → lazy work → views.publish."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from demo.fleet import Machine, launch
from tests.aws import HOME
from tests.e2e.driver import CHANNEL, SlackDriver


def home_opened(bot: SlackDriver, user: str, tab: str = "home") -> dict[str, Any]:
    body = json.dumps({
        "token": "unused", "team_id": "T0REAPER", "api_app_id": "A0REAPER", "type": "event_callback",
        "event_id": f"Ev-{user}-{tab}", "event_time": 1_800_000_000,
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": "1.1"},
    })
    return bot.post(body, content_type="application/json")


def published(bot: SlackDriver, user: str) -> str:
    """The blocks of the Home view published for `user`, as one text."""
    [call] = [c for c in bot.slack.calls_to("views.publish") if c.params.get("user_id") == user]
    view = call.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_an_approver_sees_the_policy_the_next_report_and_the_open_rows_with_links(
    bot: SlackDriver, fleet: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REAPER_REPORT_SCHEDULE", "cron(0 9 ? * MON-FRI *)")
    bot.scheduled()
    [report_ts] = {r.message.ts for r in bot.report_rows()}

    response = home_opened(bot, "U0ALICE")
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    text = published(bot, "U0ALICE")
    assert "average CPU ≤ 5 %, peak CPU ≤ 20 % and network ≤ 5 MB" in text
    assert f"Regions: {HOME}" in text and "Next report: " in text and " at 09:00 UTC" in text
    assert "You are an approver" in text
    assert "Open rows awaiting an answer (2)" in text
    assert fleet["dev-alice-sandbox"] in text and fleet["staging-reports"] in text
    assert f"archives/{CHANNEL}/p{report_ts.replace('.', '')}|in the report>" in text
    assert "Your running instances" not in text  # U0ALICE owns nothing here
    assert "No decisions yet" in text


def test_an_owner_who_is_not_an_approver_sees_their_own_instances(
    bot: SlackDriver, fleet: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    test_clients: Callable[[str, str], Any],
):
    monkeypatch.setenv("REAPER_APPROVERS", "U0ALICE")
    mine = launch(test_clients, [Machine("bobs-sandbox", HOME, [0.5] * 14, [0.2] * 14, owner="U0BOB")])
    bot.scheduled()

    home_opened(bot, "U0BOB")
    bot.wait_for_lazy()

    text = published(bot, "U0BOB")
    assert "You are not an approver" in text
    assert "Your running instances (1)" in text
    assert mine["bobs-sandbox"] in text and "offered for stopping, awaiting an answer" in text
    assert "Open rows awaiting an answer (3)" in text
    assert fleet["api-prod"] not in text.split("Your running instances")[1]  # not Bob's


def test_the_messages_tab_publishes_nothing(bot: SlackDriver, fleet: dict[str, str]):
    response = home_opened(bot, "U0ALICE", tab="messages")
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    assert bot.slack.calls_to("views.publish") == []


def test_slacks_request_url_check_is_answered_with_its_challenge(bot: SlackDriver):
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})

    response = bot.post(body, content_type="application/json")

    assert response["statusCode"] == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response["body"]
