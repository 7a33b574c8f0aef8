"""No one gets in: thousands of forged or malformed events into the Lambda handler, none reaches Bolt.

Hypothesis generates API Gateway events (payload 1.0 and 2.0) around real Slack payloads:
forged signatures of every kind, bad timestamps, base64 flags and bodies, methods and
headers. What counts as "getting in" is observed from outside our code: Bolt's
`App.dispatch` (the only way from the adapter to a listener), FakeSlack's calls, Bolt's
lazy self-invocations at FakeLambda, and every AWS operation at the moto server.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks import KEEP_ACTION, STOP_ACTION
from testkit.slack import Message
from testkit.slack_requests import CHANNEL, SIGNING_SECRET, button_body, command_body, load_event, sign
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver
from tests.reliability.figures import Figures

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

FORGED_EXAMPLES = 3000
SIGNED_MALFORMED_EXAMPLES = 600

_MESSAGE = Message(CHANNEL, "1700000001.000100", "Idle EC2 instances", [])
# Requests that would do real work if they got in: a scan, a stop, a keep, a status.
SLACK_BODIES = [
    command_body("scan", response_url="https://hooks.slack.com/commands/T0/1/x"),
    command_body("status"),
    button_body(_MESSAGE, "d-0123456789abcdef", STOP_ACTION, "U0ALICE"),
    button_body(_MESSAGE, "d-0123456789abcdef", KEEP_ACTION, "U0ALICE"),
]
LAZY_HEADERS = {"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "stop_clicked"}


def now() -> int:
    return int(time.time())


bodies = st.one_of(
    st.sampled_from(SLACK_BODIES),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4).map(urllib.parse.urlencode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=8).map(json.dumps),
    st.sampled_from(SLACK_BODIES).map(lambda b: "payload=" + urllib.parse.quote(b[:40])),
)

bad_timestamps = st.one_of(
    st.integers(301, 10**9).map(lambda age: str(now() - age)),        # stale
    st.integers(301, 10**9).map(lambda ahead: str(now() + ahead)),    # from the future
    st.integers(19, 60).map(lambda n: "9" * n),                       # huge
    st.integers(1, 10**9).map(lambda n: f"-{n}"),                     # negative
    st.text(max_size=20),                                             # non-numeric, empty, unicode
    st.sampled_from(["²", "١٧٠٠٠٠٠٠٠٠", "1.7e9", " 1700000000", "0x65", "１７００"]),
)


@st.composite
def forged_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(signature mode, event): nothing here carries a valid, fresh signature of its own body."""
    body = draw(bodies)
    mode = draw(st.sampled_from(["missing", "wrong", "other body", "wrong secret", "valid but stale",
                                 "valid, bad timestamp header", "non-ASCII"]))
    fresh = str(now())
    timestamp: str | None = draw(st.one_of(st.none(), st.just(fresh), bad_timestamps))
    signature: str | None
    if mode == "missing":
        signature = None
    elif mode == "wrong":
        signature = draw(st.one_of(st.text(max_size=70), st.binary(min_size=32, max_size=32).map(
            lambda b: "v0=" + b.hex())))
    elif mode == "other body":
        other = draw(st.sampled_from(SLACK_BODIES).filter(lambda b: b != body))
        timestamp = fresh
        signature = sign(other, int(fresh))
    elif mode == "wrong secret":
        secret = draw(st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s != SIGNING_SECRET))
        timestamp = fresh
        signature = sign(body, int(fresh), secret)
    elif mode == "valid but stale":
        timestamp = str(now() - draw(st.integers(301, 10**8)))
        signature = sign(body, int(timestamp))
    elif mode == "valid, bad timestamp header":
        # Signed over a fresh timestamp, then sent with another one (or none).
        signature = sign(body, int(fresh))
        timestamp = draw(st.one_of(st.none(), bad_timestamps))
    else:
        signature = "v0=" + draw(st.text(min_size=1, max_size=64).filter(lambda s: not s.isascii()))
    return mode, draw(shaped(body, timestamp, signature))


@st.composite
def signed_malformed_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Correctly signed and fresh, but not a Slack payload: the edge must answer 400, not raise."""
    kind = draw(st.sampled_from(["JSON that is not JSON", "form that is not a form", "payload not JSON",
                                 "payload not an object", "empty object"]))
    if kind == "JSON that is not JSON":
        body = draw(st.text(min_size=1, max_size=200).filter(lambda s: not _json_object(s)))
        content_type = "application/json"
    elif kind == "form that is not a form":
        body = draw(st.text(min_size=1, max_size=200).filter(lambda s: not _form(s)))
        content_type = "application/x-www-form-urlencoded"
    elif kind == "payload not JSON":
        body = "payload=" + urllib.parse.quote(draw(st.text(min_size=1, max_size=200).filter(
            lambda s: not _json_object(s))))
        content_type = "application/x-www-form-urlencoded"
    elif kind == "payload not an object":
        value = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.text(max_size=20), st.none()))
        body = "payload=" + urllib.parse.quote(json.dumps(value))
        content_type = "application/x-www-form-urlencoded"
    else:
        body = "{}"
        content_type = "application/json"
    ts = now()
    event = draw(shaped(body, str(ts), sign(body, ts), content_type=content_type, well_formed=True))
    return kind, event


def _json_object(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and bool(value)


def _form(text: str) -> bool:
    try:
        return bool(urllib.parse.parse_qs(text, strict_parsing=True))
    except ValueError:
        return False


@st.composite
def shaped(draw: st.DrawFn, body: str, timestamp: str | None, signature: str | None, *,
           content_type: str = "application/x-www-form-urlencoded", well_formed: bool = False) -> dict[str, Any]:
    """The body and headers wrapped in an API Gateway event of a drawn shape (sometimes a broken one)."""
    version = draw(st.sampled_from([1, 2]))
    event = load_event("apigw_v2.json" if version == 2 else "apigw_v1.json")
    headers: dict[str, str] = {"content-type": content_type}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature is not None:
        headers["x-slack-signature"] = signature
    if not well_formed and draw(st.booleans()):
        headers.update(LAZY_HEADERS)
    if not well_formed and draw(st.booleans()):
        # The same header twice in different case, the copy carrying garbage.
        for name in draw(st.lists(st.sampled_from(sorted(headers)), max_size=2)):
            headers[name.title()] = draw(st.text(max_size=30))
    encoding = draw(st.sampled_from(["plain", "base64"] if well_formed else ["plain", "base64", "bad base64"]))
    event["body"] = (base64.b64encode(body.encode()).decode() if encoding == "base64"
                     else "%%" + body if encoding == "bad base64" else body)
    event["isBase64Encoded"] = encoding != "plain"
    if not well_formed:
        flag = draw(st.sampled_from(["right", "missing", "flipped", "garbage"]))
        if flag == "missing":
            del event["isBase64Encoded"]
        elif flag == "flipped":
            event["isBase64Encoded"] = not event["isBase64Encoded"]
        elif flag == "garbage":
            event["isBase64Encoded"] = draw(st.sampled_from(["true", 1, None, "yes", [True]]))
    if version == 2:
        event["headers"].update(headers)
    else:
        event["headers"].update({k.title(): v for k, v in headers.items()})
        event["multiValueHeaders"].update({k.title(): [v] for k, v in headers.items()})
    if not well_formed:
        method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "post", None]))
        context = event["requestContext"]
        target = context["http"] if version == 2 else context
        key = "method" if version == 2 else "httpMethod"
        if method is None:
            del target[key]
        else:
            target[key] = method
        if draw(st.booleans()):
            event["method"] = "NONE"  # what Bolt's own self-invocations carry
        shape = draw(st.sampled_from(["intact", "intact", "no headers", "headers null", "no requestContext"]))
        if shape == "no headers":
            event.pop("headers", None)
            event.pop("multiValueHeaders", None)
        elif shape == "headers null":
            event["headers"] = None
            event["multiValueHeaders"] = None
        elif shape == "no requestContext":
            del event["requestContext"]
    return event


class Probe:
    """What would show that a request got past the edge, observed outside our code."""

    def __init__(self, driver: SlackDriver, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch) -> None:
        self.driver = driver
        self.aws_calls = aws_calls
        self.dispatched = 0
        app = driver.lambda_bot().app
        dispatch = app.dispatch

        def counted(request: Any) -> Any:
            self.dispatched += 1
            return dispatch(request)

        monkeypatch.setattr(app, "dispatch", counted)
        aws_calls.clear()

    def effects(self) -> dict[str, int]:
        return {"dispatched to Bolt": self.dispatched, "Slack calls": len(self.driver.slack.calls),
                "lazy invocations": len(self.driver.lam.invocations), "AWS calls": len(self.aws_calls)}


def fuzz(probe: Probe, strategy: st.SearchStrategy[tuple[str, dict[str, Any]]], examples: int,
         expected: Callable[[int], bool]) -> tuple[Counter[str], Counter[int]]:
    modes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(strategy)
    def one(case: tuple[str, dict[str, Any]]) -> None:
        mode, event = case
        response = probe.driver.invoke(event)
        modes[mode] += 1
        statuses[response["statusCode"]] += 1
        assert expected(response["statusCode"]), (mode, response)
        assert not any(probe.effects().values()), (mode, probe.effects())

    one()
    return modes, statuses


@pytest.mark.slow
def test_forged_events_never_reach_a_listener(driver: SlackDriver, aws_calls: AwsCalls,
                                              monkeypatch: pytest.MonkeyPatch, figures: Figures) -> None:
    probe = Probe(driver, aws_calls, monkeypatch)

    modes, statuses = fuzz(probe, forged_events(), FORGED_EXAMPLES, lambda status: 400 <= status < 500)
    driver.lam.wait()

    tried = sum(modes.values())
    figures.record("fuzz", "forged events (signature missing, wrong, other body, wrong secret, stale)", tried=tried,
                   unwanted=sum(probe.effects().values()),
                   note="answers " + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
                   + "; 0 uncaught exceptions")
    assert tried >= FORGED_EXAMPLES * 0.95
    assert probe.effects() == dict.fromkeys(probe.effects(), 0)


def test_signed_but_malformed_events_get_400_and_reach_nothing(driver: SlackDriver, aws_calls: AwsCalls,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               figures: Figures) -> None:
    probe = Probe(driver, aws_calls, monkeypatch)

    modes, statuses = fuzz(probe, signed_malformed_events(), SIGNED_MALFORMED_EXAMPLES, lambda status: status == 400)
    driver.lam.wait()

    tried = sum(modes.values())
    figures.record("fuzz", "correctly signed, malformed body", tried=tried, unwanted=sum(probe.effects().values()),
                   note="answers " + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
                   + "; 0 uncaught exceptions")
    assert tried >= SIGNED_MALFORMED_EXAMPLES * 0.95
    assert probe.effects() == dict.fromkeys(probe.effects(), 0)


def test_the_probe_sees_a_genuine_request(driver: SlackDriver, aws_calls: AwsCalls,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same probe counts a correctly signed command, so zero above means something."""
    probe = Probe(driver, aws_calls, monkeypatch)
    body = command_body("status")
    event = load_event("apigw_v2.json")
    ts = now()
    event["headers"].update({"x-slack-request-timestamp": str(ts), "x-slack-signature": sign(body, ts)})
    event["body"] = base64.b64encode(body.encode()).decode()

    response = driver.invoke(event)
    driver.lam.wait()

    assert response["statusCode"] == 200
    # The ack, then `/reaper status`'s lazy listener in its own invocation.
    assert probe.effects()["dispatched to Bolt"] == 2 and probe.effects()["lazy invocations"] == 1
