"""SlackDriver: sends requests exactly as Slack would (signed, wrapped in API Gateway events) to the handler."""

from __future__ import annotations

import base64
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.blocks import KEEP_ACTION, STOP_ACTION
from tests.fakes.lambda_invoke import FakeLambda, FakeLambdaContext
from tests.fakes.slack import FakeSlack, Message

EVENTS = Path(__file__).resolve().parent.parent / "events"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0OPS"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None
    return signature


def api_gateway_event(
    body: str,
    *,
    version: int = 2,
    content_type: str = "application/x-www-form-urlencoded",
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    signature: str | None = None,
) -> dict[str, Any]:
    """A Slack request as API Gateway hands it to Lambda (payload 2.0 base64-encodes form bodies)."""
    ts = int(time.time()) if timestamp is None else timestamp
    sig = signature or sign(body, ts, secret)
    if version == 2:
        event = load_event("apigw_v2.json")
        event["headers"].update({"content-type": content_type, "x-slack-request-timestamp": str(ts),
                                 "x-slack-signature": sig})
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event = load_event("apigw_v1.json")
        extra = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig}
        event["headers"].update(extra)
        event["multiValueHeaders"].update({k: [v] for k, v in extra.items()})
        event["body"] = body
        event["isBase64Encoded"] = False
    return event


def button_body(message: Message, decision_id: str, action_id: str, user: str,
                response_url: str = "", *, with_message: bool = True) -> str:
    """A block_actions payload; without `message`, as Slack sends a click on an ephemeral message."""
    payload = load_event("block_actions.json")
    payload["user"]["id"] = user
    payload["container"].update(message_ts=message.ts, channel_id=message.channel)
    payload["channel"]["id"] = message.channel
    payload["message"].update(ts=message.ts, text=message.text, blocks=copy.deepcopy(message.blocks))
    if not with_message:
        del payload["message"]
        payload["container"]["is_ephemeral"] = True
    payload["response_url"] = response_url
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id=f"act:{decision_id}", value=decision_id)
    action["text"]["text"] = "Stop" if action_id == STOP_ACTION else "Keep"
    return urlencode({"payload": json.dumps(payload)})


def command_body(text: str, *, user: str = "U0ALICE", channel: str = CHANNEL, response_url: str = "") -> str:
    fields = load_event("slash_command.json")
    fields.update(text=text, user_id=user, channel_id=channel, response_url=response_url)
    return urlencode(fields)


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
