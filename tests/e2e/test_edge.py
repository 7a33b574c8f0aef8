"""The Lambda edge: only correctly signed, well-formed Slack requests get past it, and nothing raises."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from bot.blocks import STOP_ACTION
from testkit.slack_requests import api_gateway_event, button_body, command_body, load_event, sign
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver


def assert_untouched(driver: SlackDriver, aws_calls: AwsCalls) -> None:
    assert len(aws_calls) == 0, aws_calls.operations
    assert not driver.lam.invocations
    assert not driver.slack.calls


@pytest.fixture
def untouched(aws_calls: AwsCalls) -> AwsCalls:
    aws_calls.clear()
    return aws_calls


@pytest.mark.parametrize("version", [2, 1])
def test_a_forged_signature_gets_401_and_no_aws_call(driver: SlackDriver, untouched: AwsCalls, version: int):
    response = driver.post(command_body("status"), secret="not-the-signing-secret", version=version)

    assert response["statusCode"] == 401
    assert_untouched(driver, untouched)


def test_a_stale_timestamp_gets_401_even_with_a_valid_signature(driver: SlackDriver, untouched: AwsCalls):
    response = driver.post(command_body("status"), timestamp=int(time.time()) - 301)

    assert response["statusCode"] == 401
    assert_untouched(driver, untouched)


def test_a_body_tampered_after_signing_gets_401(driver: SlackDriver, untouched: AwsCalls):
    now = int(time.time())
    signed = command_body("status")
    event = api_gateway_event(command_body("scan"), timestamp=now, signature=sign(signed, now))

    response = driver.invoke(event)

    assert response["statusCode"] == 401
    assert_untouched(driver, untouched)


def _without_base64_flag() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    del event["isBase64Encoded"]
    return event


def _bad_base64() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["body"] = "%%% not base64 %%%"
    return event


def _signed_non_json_payload() -> dict[str, Any]:
    return api_gateway_event("payload=%7Bnot-json")


def _signed_non_json_with_json_content_type() -> dict[str, Any]:
    return api_gateway_event("{not json", content_type="application/json")


def _get() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["requestContext"]["http"]["method"] = "GET"
    return event


def _non_numeric_timestamp() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["headers"]["x-slack-request-timestamp"] = "yesterday"
    return event


def _timestamp_too_long_for_int() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["headers"]["x-slack-request-timestamp"] = "9" * 4301  # int() refuses over 4 300 digits
    return event


def _v1_without_headers() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"), version=1)
    event["headers"] = None
    event["multiValueHeaders"] = None
    return event


def _no_body() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["body"] = None
    return event


def _not_base64_utf8() -> dict[str, Any]:
    event = api_gateway_event(command_body("help"))
    event["body"] = base64.b64encode(b"\xff\xfe\xfd").decode()
    return event


MALFORMED = {
    "no isBase64Encoded": (_without_base64_flag, 400),
    "bad base64": (_bad_base64, 400),
    "base64 of non-UTF-8": (_not_base64_utf8, 400),
    "signed payload that is not JSON": (_signed_non_json_payload, 400),
    "signed JSON body that is not JSON": (_signed_non_json_with_json_content_type, 400),
    "GET": (_get, 405),
    "non-numeric timestamp": (_non_numeric_timestamp, 401),
    "timestamp of 4 301 digits": (_timestamp_too_long_for_int, 401),
    "REST event without headers": (_v1_without_headers, 401),
    "no body": (_no_body, 400),
    "not an API Gateway event": (lambda: {"hello": "world"}, 400),
    "not even an object": (lambda: ["a", "list"], 400),
    "API Gateway event of another shape": (lambda: {"requestContext": "nope", "body": ""}, 400),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_event_gets_a_4xx_and_never_raises(driver: SlackDriver, untouched: AwsCalls, name: str):
    make, status = MALFORMED[name]

    response = driver.invoke(make())

    assert response["statusCode"] == status
    assert_untouched(driver, untouched)


@pytest.mark.parametrize("field, value", [("detail-type", "Object Created"), ("source", "my.app")])
def test_the_scheduled_event_shape_is_recognised_only_with_both_fields(
    driver: SlackDriver, untouched: AwsCalls, field: str, value: str
):
    event = load_event("scheduled_event.json")
    event[field] = value

    response = driver.invoke(event)

    assert response["statusCode"] == 400
    assert_untouched(driver, untouched)


def test_refusals_do_not_log_the_body_or_secrets(driver: SlackDriver, untouched: AwsCalls, caplog):
    body = command_body("status") + "&response_url=https%3A%2F%2Fhooks.slack.com%2Fsecret-hook"

    driver.post(body, secret="wrong")

    logged = json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)
    assert "secret-hook" not in logged and "xoxb-" not in logged and "user_id=" not in logged
    assert any(r.getMessage() == "request refused" and getattr(r, "status", None) == 401 for r in caplog.records)


def test_a_client_cannot_ask_for_a_lazy_listener_directly(bot: SlackDriver, fleet, aws_calls: AwsCalls):
    bot.scheduled()
    row = bot.report_rows()[0]
    event = api_gateway_event(button_body(row.message, row.decision_id, STOP_ACTION, "U0ALICE"))
    event["headers"].update({"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "stop_clicked"})
    aws_calls.clear()

    response = bot.invoke(event)
    operations_at_ack = list(aws_calls.operations)
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    assert "StopInstances" not in operations_at_ack
    assert len(bot.lam.invocations) == 1  # acked, then the lazy listener ran as its own invocation
    assert aws_calls.count("StopInstances") == 1
