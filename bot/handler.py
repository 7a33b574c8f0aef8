"""`lambda_handler`: Slack requests through API Gateway, the scheduled report, Bolt's lazy self-invocations."""

from __future__ import annotations

import importlib
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner

from bot.app import Runtime, build_app, scheduled_reconcile, scheduled_report, web_client
from bot.config import SlackConfig
from bot.edge import is_scheduled, method_of, verified_request
from bot.errors import BadEvent
from bot.fanout import handle_queue_event, is_queue_event
from bot.logs import hold_sdk_loggers_at_warning

# Bolt's lazy listeners run as an asynchronous invocation of this same function.
IAM_ACTIONS = ("lambda:InvokeFunction",)

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "instance-reaper"))
for _name in ("bot", "reaper"):
    logging.getLogger(_name)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "InstanceReaper"))
copy_config_to_registered_loggers(source_logger=logger, include={"bot", "reaper"})
hold_sdk_loggers_at_warning()



@dataclass(frozen=True)
class LambdaBot:
    runtime: Runtime
    app: App
    adapter: SlackRequestHandler

    @classmethod
    def from_env(cls) -> LambdaBot:
        """Read the settings and the Slack secret, and wire the app: once per execution environment."""
        from reaper.bootstrap import build, lambda_client, read_secret

        runtime = Runtime(SlackConfig.from_env(read_secret=read_secret), build())
        app = build_app(runtime, process_before_response=True, bolt_logger=logging.getLogger("slack_bolt"))
        adapter = SlackRequestHandler(app)
        # Bolt's Lambda runner would create this client inside the first ack that starts a lazy
        # listener (slack_bolt/adapter/aws_lambda/lazy_listener_runner.py): build it now instead.
        adapter.app.listener_runner.lazy_listener_runner = LambdaLazyListenerRunner(
            logging.getLogger("slack_bolt"), lambda_client=lambda_client(runtime.settings)
        )
        return cls(runtime, app, adapter)


class Once:
    """A LambdaBot built on first need and kept; a failed build is retried by the next request."""

    def __init__(self, build: Callable[[], LambdaBot]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._bot: LambdaBot | None = None

    def __call__(self) -> LambdaBot:
        with self._lock:
            if self._bot is None:
                self._bot = self._build()
            return self._bot


Handler = Callable[[Any, Any], dict[str, Any]]


def handler_for(bot: Callable[[], LambdaBot]) -> Handler:
    """A Lambda handler serving the bot that `bot` returns (tests build their own from their environment)."""

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return handle(bot, event, context)

    return handler


def _reply(status: int, text: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": text}


def handle(lambda_bot: Callable[[], LambdaBot], event: Any, context: Any) -> dict[str, Any]:
    if is_queue_event(event):  # a fanned-out report's shard or deadline (issue 15)
        metrics.add_metric(name="ShardMessages", unit=MetricUnit.Count, value=len(event["Records"]))
        return handle_queue_event(lambda_bot().runtime, event)
    if is_scheduled(event):
        logger.set_correlation_id(str(event.get("id", "")))
        metrics.add_metric(name="ScheduledRuns", unit=MetricUnit.Count, value=1)
        return run_scheduled(lambda_bot, scheduled_task(event))
    metrics.add_metric(name="SlackRequests", unit=MetricUnit.Count, value=1)
    if isinstance(event, dict):
        request_context = event.get("requestContext")
        if isinstance(request_context, dict):
            logger.set_correlation_id(str(request_context.get("requestId", "")))
    try:
        bot = lambda_bot()
    except Exception:
        logger.exception("the Slack app could not be configured")
        return _reply(500, "the app is not configured")
    try:
        request = verified_request(event, bot.runtime.config.signing_secret)
    except BadEvent as refused:
        method = method_of(event) if isinstance(event, dict) else None
        logger.warning("request refused", extra={"status": refused.status, "reason": refused.reason, "method": method})
        metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
        return _reply(refused.status, refused.reason)
    lazy = request["headers"].get("x-slack-bolt-lazy-function-name")
    if lazy:
        logger.append_keys(lazy_function=lazy)
    try:
        response: dict[str, Any] = bot.adapter.handle(request, context)  # type: ignore[no-untyped-call]
    except Exception:
        logger.exception("Slack request failed")
        return _reply(500, "internal error")
    logger.info("Slack request handled", extra={"status": response.get("statusCode")})
    return response


def scheduled_task(event: dict[str, Any]) -> str:
    """infra/template.yaml's contract: detail.task names the job; none means the daily report."""
    detail = event.get("detail")
    task = detail.get("task") if isinstance(detail, dict) else None
    return str(task or "report")


def run_scheduled(lambda_bot: Callable[[], LambdaBot], task: str) -> dict[str, Any]:
    """The daily report or the repair sweep. Errors are logged and returned, not raised: a retry would post twice."""
    if task not in ("report", "reconcile"):
        logger.error("unknown scheduled task", extra={"task": task})
        return {"ok": False, "error": f"unknown scheduled task {task!r}"}
    try:
        bot = lambda_bot()
        client = web_client(bot.runtime.config)
        if task == "reconcile":
            result = scheduled_reconcile(bot.runtime, client)
        else:
            result = scheduled_report(bot.runtime, client)
    except Exception as error:
        logger.exception("scheduled task failed", extra={"task": task})
        metrics.add_metric(name="ScheduledTaskFailures", unit=MetricUnit.Count, value=1)
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    if task == "reconcile":
        logger.info("repair sweep finished", extra={k: v for k, v in result.items() if k != "errors"})
        metrics.add_metric(name="DecisionsRepaired", unit=MetricUnit.Count,
                           value=result["finished"] + result["published"])
        if result["errors"]:  # decisions the sweep could not settle: the next run retries them
            logger.warning("repair sweep left errors", extra={"errors": result["errors"]})
            metrics.add_metric(name="RepairSweepErrors", unit=MetricUnit.Count, value=len(result["errors"]))
    else:
        logger.info("scheduled report posted", extra={"idle": result["idle"], "scanned": result["scanned"]})
        metrics.add_metric(name="IdleInstancesReported", unit=MetricUnit.Count, value=result["idle"])
    return result


_bot = Once(LambdaBot.from_env)
lambda_handler = handler_for(_bot)  # infra/template.yaml: Handler bot.handler.lambda_handler



def initialise() -> None:
    """The Lambda init phase: everything the first request would otherwise pay for.

    Read the secret, wire the app and Bolt's Lambda client, and import what the lazy work
    imports (the use cases, the report). With SnapStart, this is what the snapshot holds.
    """
    try:
        _bot()
    except Exception:
        logger.exception("the Slack app could not be configured at start-up; the first request will try again")
    for module in ("bot.report", "reaper.decisions", "reaper.scan", "reaper.sweep"):
        importlib.import_module(module)


def after_restore() -> None:
    """SnapStart resumes many execution environments from one snapshot: restore what must differ.

    `random` (botocore's retry jitter) would replay the snapshot's sequence in every environment,
    so it is reseeded. Decision ids come from `secrets` (the kernel's generator) and need nothing.
    The AWS clients need nothing either: none has opened a connection before the snapshot, and
    with SnapStart Lambda serves credentials from its container-credentials endpoint, which
    botocore's default chain reads and refreshes (docs: "Handling uniqueness with Lambda SnapStart").
    """
    random.seed()


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    initialise()
    try:  # in Lambda's Python runtimes; absent elsewhere
        from snapshot_restore_py import register_after_restore
    except ImportError:
        pass
    else:
        register_after_restore(after_restore)
