"""`python -m bot`: the same app over Socket Mode, for local runs (LocalStack, moto, `make demo`).

Everything it needs is checked before it connects, so a bad start is one line and exit
code 2: the settings, the Slack secret, the table and bucket (`python -m reaper init`),
the bot token (auth.test) and the app-level token (apps.connections.open).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import threading
from typing import NoReturn

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.app import Runtime, build_app
from bot.config import SlackConfig, log_level
from bot.errors import BotConfigError
from bot.logs import hold_sdk_loggers_at_warning
from reaper.bootstrap import build, check_storage, read_secret
from reaper.errors import ReaperError
from reaper.settings import TERMINAL_TIMEOUTS, Settings

ENVIRONMENT = """\
environment:
  SLACK_APP_TOKEN       app-level token (xapp-…, connections:write) of a Socket Mode app
  SLACK_BOT_TOKEN       its bot token (xoxb-…)
  REAPER_SLACK_SECRET   or: a Secrets Manager secret (an SSM path if it starts with /) holding both as JSON
  SLACK_API_URL         Slack's Web API (default https://slack.com/api/)
  AWS_REGION            the home region, where the table and bucket live (or AWS_DEFAULT_REGION)
  AWS_ENDPOINT_URL      send every AWS call there, e.g. http://localhost:4566 (LocalStack); unset: AWS
  REAPER_REGIONS, REAPER_TABLE, REAPER_BUCKET, REAPER_APPROVERS, ...
                        see README "Configuration" and "Slack bot"
  REAPER_LOG_LEVEL      DEBUG, INFO (default), WARNING, ERROR or CRITICAL

It runs until interrupted (Ctrl-C). Exit status 2: it could not start (the line says why)."""

# Seconds the start-up call to Slack may take (one retry on a connection error).
SLACK_START_TIMEOUT = 5

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bot: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    return _Parser(prog="python -m bot", description=__doc__, epilog=ENVIRONMENT,
                   formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: list[str] | None = None) -> int:
    _parser().parse_args(argv)
    try:
        level = log_level(os.environ)
    except BotConfigError as error:
        return _fail(str(error))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hold_sdk_loggers_at_warning()  # before the secret is read: botocore would log it at DEBUG
    try:
        handler = _start()
    except (BotConfigError, ReaperError) as error:
        return _fail(str(error))
    log.info("connected to Slack in Socket Mode; waiting for commands and clicks (Ctrl-C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        handler.close()  # type: ignore[no-untyped-call]
    return 0


def _fail(message: str) -> int:
    print(f"bot: error: {message}", file=sys.stderr)
    return 2


def _start() -> SocketModeHandler:
    # The reaper's settings first: they validate AWS_ENDPOINT_URL before any client reads it.
    settings = Settings.from_env(timeouts=TERMINAL_TIMEOUTS)
    config = SlackConfig.from_env(require_signing_secret=False,
                                  read_secret=functools.partial(read_secret, timeouts=TERMINAL_TIMEOUTS))
    if not config.app_token:
        raise BotConfigError("SLACK_APP_TOKEN (an xapp- app-level token) is needed for Socket Mode")
    # Bolt's App falls back to SLACK_BOT_TOKEN from the environment even when given a client,
    # and then warns at every start that it ignores it (slack_bolt/app/app.py). The token is
    # in `config` now; the environment need not hold it any longer.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        os.environ.pop(name, None)
    check_storage(settings)
    slack = _start_client(config)
    check_bot_token(slack, config)
    socket_url = open_connection(slack, config)
    runtime = Runtime(config, build(settings))
    # Socket Mode acks over the websocket; lazy listeners run on Bolt's thread pool.
    app = build_app(runtime, process_before_response=False, bolt_logger=logging.getLogger("slack_bolt"))
    handler = SocketModeHandler(app, config.app_token)
    # The URL just issued, so that connect() does not ask again (its own failure would be logged
    # as an ERROR before ours); reconnections later ask Slack for new ones as usual.
    handler.client.wss_uri = socket_url
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except (OSError, SlackClientError) as error:
        raise BotConfigError(f"cannot open Slack's Socket Mode connection: {_reason(error)}") from None
    return handler


def _start_client(config: SlackConfig) -> WebClient:
    """A Web API client for the start-up checks: short timeout, one retry, and no logging of its own."""
    quiet = logging.getLogger("bot.start")  # our one line says it; slack_sdk would log each try as ERROR
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    return WebClient(base_url=config.api_url, timeout=SLACK_START_TIMEOUT,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)], logger=quiet)


def check_bot_token(client: WebClient, config: SlackConfig) -> None:
    """auth.test with the bot token: a wrong token or an unreachable Slack fails the start, not a click."""
    try:
        client.auth_test(token=config.bot_token)
    except SlackApiError as error:
        raise BotConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({error.response.get('error')})") from None
    except (OSError, SlackClientError) as error:
        raise BotConfigError(f"cannot reach Slack at {config.api_url}: {_reason(error)}") from None


def open_connection(client: WebClient, config: SlackConfig) -> str:
    """apps.connections.open with the app-level token: the websocket URL, or why there is none."""
    try:
        url = client.apps_connections_open(app_token=config.app_token)["url"]
    except SlackApiError as error:
        raise BotConfigError(f"SLACK_APP_TOKEN was refused by Slack ({error.response.get('error')})") from None
    except (OSError, SlackClientError) as error:
        raise BotConfigError(f"cannot reach Slack at {config.api_url}: {_reason(error)}") from None
    return str(url)


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error  # urllib's URLError wraps the socket error
    if isinstance(reason, TimeoutError):
        return f"no answer within {SLACK_START_TIMEOUT} s"
    return str(reason) or type(reason).__name__


if __name__ == "__main__":
    sys.exit(main())
