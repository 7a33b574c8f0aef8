"""One ack measurement in a fresh process: `python -m bench.ack_worker MODE [N]`, JSON on stdout.

Modes: `floor` imports slack_bolt and boto3 only; `cold` imports bot.handler and acks one
signed `/reaper scan`; `cold-minimal` does the same through a minimal Bolt app with a lazy
listener (the least any Bolt app on Lambda pays: Bolt creates its Lambda client and
self-invokes before the 200); `warm` acks N (after 20 unmeasured) through bot.handler;
`minimal` and `minimal-plain` do the same through a minimal Bolt app, with and without
a lazy listener (Bolt's Lambda runner self-invokes for it, as the project's ack does).

`split` and `split-minimal` time one process in three parts, as Lambda bills and users feel
them: process start (BENCH_SPAWNED_AT, the parent's clock) → end of init (the handler module
imported, which on Lambda runs bot.handler.initialise; for the minimal app, its App built);
end of init → the first 200; then N warm requests, whose p99 the first one is compared with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

COMMAND = {
    "token": "legacy", "team_id": "T0REAPER", "team_domain": "example", "channel_id": "C0OPS",
    "channel_name": "ops", "user_id": "U0ALICE", "user_name": "alice", "command": "/reaper", "text": "scan",
    "api_app_id": "AREAPER", "is_enterprise_install": "false", "response_url": "", "trigger_id": "1.2.3",
}


@dataclass
class Context:
    function_name: str = "instance-reaper"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:instance-reaper"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/instance-reaper"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def signed_event() -> dict[str, Any]:
    """A signed slash command as API Gateway (HTTP API, payload 2.0) hands it to Lambda."""
    body = urlencode(COMMAND)
    ts = str(int(time.time()))
    secret = os.environ["SLACK_SIGNING_SECRET"].encode()
    signature = "v0=" + hmac.new(secret, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "version": "2.0", "routeKey": "POST /slack/events", "rawPath": "/slack/events", "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts,
                    "x-slack-signature": signature, "host": "example.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {"http": {"method": "POST", "path": "/slack/events"}, "requestId": str(uuid.uuid4()),
                           "stage": "$default"},
        "body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True,
    }


def minimal_handler(lazy: bool) -> Any:
    from slack_bolt import App
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler
    from slack_sdk import WebClient

    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        process_before_response=True,
    )

    def ack_scan(ack: Any) -> None:
        ack(text="Scanning…", response_type="ephemeral")

    def later() -> None:
        pass

    if lazy:
        app.command("/reaper")(ack=ack_scan, lazy=[later])
    else:
        app.command("/reaper")(ack_scan)
    adapter = SlackRequestHandler(app)
    return lambda event, context: adapter.handle(event, context)  # type: ignore[no-untyped-call]


def split(minimal: bool, n: int) -> dict[str, Any]:
    if minimal:
        handler = minimal_handler(lazy=True)
    else:
        from bot.handler import lambda_handler as handler
    init_done = time.time()
    events = [signed_event() for _ in range(n + 1)]
    times = []
    for event in events:
        started = time.perf_counter()
        response = handler(event, Context())
        times.append(time.perf_counter() - started)
        assert response["statusCode"] == 200, response
    warm = sorted(times[1:])
    return {"mode": "split-minimal" if minimal else "split",
            "init_s": init_done - float(os.environ["BENCH_SPAWNED_AT"]), "first_s": times[0],
            "warm_p99_s": warm[min(len(warm) - 1, round(0.99 * (len(warm) - 1)))]}


def main(mode: str, n: int) -> dict[str, Any]:
    if mode in ("split", "split-minimal"):
        return split(mode == "split-minimal", n)
    if mode == "floor":
        import boto3  # noqa: F401
        import slack_bolt  # noqa: F401

        return {"mode": mode}
    if mode in ("cold", "warm"):
        from bot.handler import lambda_handler as handler
    else:
        handler = minimal_handler(lazy=mode in ("minimal", "cold-minimal"))
    if mode in ("cold", "cold-minimal"):
        response = handler(signed_event(), Context())
        assert response["statusCode"] == 200, response
        return {"mode": mode, "status": response["statusCode"]}
    events = [signed_event() for _ in range(n + 20)]
    times = []
    for k, event in enumerate(events):
        started = time.perf_counter()
        response = handler(event, Context())
        elapsed = time.perf_counter() - started
        assert response["statusCode"] == 200, response
        if k >= 20:
            times.append(elapsed)
    return {"mode": mode, "times_s": times, "body": str(response.get("body"))[:200]}


if __name__ == "__main__":
    result = main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500)
    # The handler's Powertools logger writes JSON lines to stdout too: the result is the last line.
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # Bolt leaves a non-daemon thread behind in some paths; the measurement is done
