"""The Lambda edge: turn an API Gateway proxy event into a verified Slack request, or refuse it.

Bolt's adapter raises on an event without `isBase64Encoded`, parses the body before it
checks the signature and answers 500 to a non-numeric timestamp, so every event is
checked here first: the signature (v0 HMAC-SHA256, at most 5 minutes old, per
https://api.slack.com/authentication/verifying-requests-from-slack) before the body is parsed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.errors import BadEvent

MAX_BODY = 256 * 1024  # the most an asynchronous self-invocation can carry


def is_scheduled(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == "aws.events" and (
        event.get("detail-type") == "Scheduled Event"
    )


def method_of(event: dict[str, Any]) -> str | None:
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return None
    http = context.get("http")
    method = http.get("method") if isinstance(http, dict) else context.get("httpMethod")
    return method.upper() if isinstance(method, str) else None


def headers_of(event: dict[str, Any]) -> dict[str, str]:
    """Lower-cased single-valued headers (payload 1.0 may only have multiValueHeaders)."""
    headers: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        for name, values in multi.items():
            if isinstance(values, list) and values and isinstance(values[0], str):
                headers[str(name).lower()] = values[0]
    single = event.get("headers")
    if isinstance(single, dict):
        for name, value in single.items():
            if isinstance(value, str):
                headers[str(name).lower()] = value
    return headers


def is_lazy_invocation(event: dict[str, Any]) -> bool:
    """Bolt's Lambda runner marks its self-invocations with a top-level "method": "NONE",
    which API Gateway never sends; only those may carry Bolt's x-slack-bolt-lazy-* headers."""
    return event.get("method") == "NONE"


def verified_request(event: Any, signing_secret: str) -> dict[str, Any]:
    """A normalised copy of the event (plain-text body, lower-case headers) or BadEvent."""
    if not isinstance(event, dict):
        raise BadEvent(400, "not an API Gateway proxy event")
    method = method_of(event)
    if method is None:
        raise BadEvent(400, "not an API Gateway proxy event")
    if method != "POST":
        raise BadEvent(405, "only POST is accepted")
    encoded = event.get("isBase64Encoded")
    if not isinstance(encoded, bool):
        raise BadEvent(400, "isBase64Encoded is missing")
    raw = event.get("body")
    if not isinstance(raw, str) or not raw:
        raise BadEvent(400, "the body is missing")
    if len(raw) > MAX_BODY * 2:
        raise BadEvent(413, "the body is too large")
    body = _decoded(raw) if encoded else raw
    headers = headers_of(event)
    if not is_lazy_invocation(event):
        # A client cannot ask to skip the ack and run a lazy listener directly.
        headers = {k: v for k, v in headers.items() if not k.startswith("x-slack-bolt-lazy")}
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    # ASCII only: "²".isdigit() but int("²") raises, and hmac.compare_digest raises on non-ASCII str.
    # Short: int() refuses strings of over 4 300 digits; Slack sends 10-digit epoch seconds.
    if (not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20)
            or not signature or not signature.isascii()):
        raise BadEvent(401, "missing or malformed Slack signature headers")
    if not SignatureVerifier(signing_secret).is_valid(body, timestamp, signature):
        raise BadEvent(401, "invalid or stale Slack signature")
    _check_body(body, headers.get("content-type", ""))
    normalised = {k: v for k, v in event.items() if k not in ("multiValueHeaders", "body", "headers")}
    normalised.update(
        body=body,
        headers=headers,
        isBase64Encoded=False,
        queryStringParameters=event.get("queryStringParameters") or {},
    )
    return normalised


def _decoded(raw: str) -> str:
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadEvent(400, "the body is not valid base64 UTF-8") from None


def _check_body(body: str, content_type: str) -> None:
    """Bolt would raise on these; refuse them here with a 400."""
    try:
        if content_type.startswith("application/json"):
            parsed = json.loads(body)
        else:
            form = parse_qs(body, strict_parsing=True)
            payload = form.get("payload")
            parsed = json.loads(payload[0]) if payload else form
    except ValueError:
        raise BadEvent(400, "the body is neither a Slack form nor JSON") from None
    if not isinstance(parsed, dict) or not parsed:
        raise BadEvent(400, "the body is not a Slack payload")

