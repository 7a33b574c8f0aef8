"""Slack requests as API Gateway hands them to Lambda: signed bodies of slash commands and button clicks.

The one signer of the project's tests and benchmark: `sign` is slack_sdk's own
`SignatureVerifier` (v0 HMAC-SHA256 of `v0:<timestamp>:<body>`), the code Bolt verifies with,
so a request built here is one Slack could have sent. The payloads are the JSON files under
tests/events/ (where the house style keeps shared payloads), read from the checkout.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.blocks import STOP_ACTION

if TYPE_CHECKING:  # only a type here: a process that signs requests does not start the fake Slack's server code
    from testkit.slack import Message

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"
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
