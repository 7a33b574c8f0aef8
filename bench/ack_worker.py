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

import json
import os
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

# testkit is imported where it is used, not here: the `floor` mode measures a process that
# imports slack_bolt and boto3 only.
if TYPE_CHECKING:
    from testkit.lambda_context import FakeLambdaContext


def context() -> FakeLambdaContext:
    """A fresh request id per invocation, as Lambda gives (Powertools logs it)."""
    from testkit.lambda_context import FakeLambdaContext

    return FakeLambdaContext(aws_request_id=str(uuid.uuid4()), log_stream_name="bench")


def signed_event() -> dict[str, Any]:
    """A signed `/reaper scan` as API Gateway (HTTP API, payload 2.0) hands it to Lambda."""
    from testkit.slack_requests import api_gateway_event, command_body

    return api_gateway_event(command_body("scan"), secret=os.environ["SLACK_SIGNING_SECRET"])


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
        response = handler(event, context())
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
        response = handler(signed_event(), context())
        assert response["statusCode"] == 200, response
        return {"mode": mode, "status": response["statusCode"]}
    events = [signed_event() for _ in range(n + 20)]
    times = []
    for k, event in enumerate(events):
        started = time.perf_counter()
        response = handler(event, context())
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
