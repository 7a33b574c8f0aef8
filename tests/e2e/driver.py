"""SlackDriver: sends requests exactly as Slack would (signed, wrapped in API Gateway events) to the handler.

The requests themselves are built by testkit.slack_requests (shared with the benchmark).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.blocks import KEEP_ACTION, STOP_ACTION
from testkit.lambda_context import FakeLambdaContext
from testkit.slack import FakeSlack, Message
from testkit.slack_requests import CHANNEL, api_gateway_event, button_body, command_body, load_event
from tests.fakes.lambda_invoke import FakeLambda


@dataclass
class Row:
    decision_id: str
    message: Message


class SlackDriver:
    """Drives a Lambda handler as API Gateway and EventBridge would; FakeLambda runs lazy work with the same one.

    The handler is bot.handler's, built for this test from its environment on the first
    request (as Lambda's init phase builds it once per execution environment).
    """

    def __init__(self, slack: FakeSlack, lam: FakeLambda) -> None:
        from bot.handler import LambdaBot, Once, handler_for

        self.slack = slack
        self.lam = lam
        self.lambda_bot = Once(LambdaBot.from_env)
        self.handler = handler_for(self.lambda_bot)
        lam.handler = self.handler

    def invoke(self, event: Any) -> Any:
        return self.handler(event, FakeLambdaContext())

    def post(self, body: str, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.invoke(api_gateway_event(body, **kwargs))
        return response

    def wait_for_lazy(self) -> None:
        """Wait for every lazy (asynchronous) invocation the last requests started."""
        self.lam.wait()
        assert not self.lam.errors, self.lam.errors

    def scheduled(self) -> dict[str, Any]:
        result: dict[str, Any] = self.invoke(load_event("scheduled_event.json"))
        return result

    def command(self, text: str, user: str = "U0ALICE", version: int = 2) -> dict[str, Any]:
        body = command_body(text, user=user, response_url=self.slack.response_url())
        return self.post(body, version=version)

    def click(self, row: Row, action_id: str = STOP_ACTION, user: str = "U0ALICE", version: int = 2,
              message: Message | None = None, with_message: bool = True) -> dict[str, Any]:
        body = button_body(message or row.message, row.decision_id, action_id, user, with_message=with_message)
        return self.post(body, version=version)

    def keep(self, row: Row, user: str = "U0ALICE", *, length: str | None = None, until: str | None = None,
             reason: str | None = None, version: int = 2, with_message: bool = True) -> dict[str, Any]:
        """Click Keep, then submit the dialog it opened (its default length unless `length`, "1", "7",
        "30" or "date" with `until`); the submission's response. Wait for the lazy Keep yourself."""
        opened = len(self.slack.views)
        self.click(row, KEEP_ACTION, user, version=version, with_message=with_message)
        assert len(self.slack.views) == opened + 1, "the Keep click opened no dialog"
        return self.submit_keep(self.slack.views[-1], user, length=length, until=until, reason=reason)

    def submit_keep(self, view: dict[str, Any], user: str, *, length: str | None = None, until: str | None = None,
                    reason: str | None = None) -> dict[str, Any]:
        """A view_submission of the Keep dialog, as Slack sends it."""
        from bot import keep_dialog

        radio = next(b for b in view["blocks"] if b.get("block_id") == keep_dialog.LENGTH)["element"]
        chosen = radio["initial_option"] if length is None else next(
            o for o in radio["options"] if o["value"] == length)
        payload = {
            "type": "view_submission",
            "team": {"id": "T0REAPER", "domain": "example"},
            "user": {"id": user, "team_id": "T0REAPER"},
            "api_app_id": "AREAPER",
            "trigger_id": "4.5.6",
            "view": {**view, "id": "V0001", "team_id": "T0REAPER", "state": {"values": {
                keep_dialog.LENGTH: {keep_dialog.LENGTH: {"type": "radio_buttons", "selected_option": chosen}},
                keep_dialog.UNTIL: {keep_dialog.UNTIL: {"type": "datepicker", "selected_date": until}},
                keep_dialog.REASON: {keep_dialog.REASON: {"type": "plain_text_input", "value": reason}},
            }}},
        }
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def report_rows(self, channel: str = CHANNEL) -> list[Row]:
        """Every row offered with buttons in the report messages posted so far, in posting order."""
        rows = []
        for message in list(self.slack.messages.values()):
            if message.channel != channel:
                continue
            original = message.history[0] if message.history else message.blocks
            rows.extend(
                Row(str(b["block_id"])[len("act:") :], message)
                for b in original
                if b.get("type") == "actions" and str(b.get("block_id", "")).startswith("act:")
            )
        return rows
