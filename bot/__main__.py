"""`python -m bot`: the same app over Socket Mode, for local runs (LocalStack, moto, `make demo`)."""

from __future__ import annotations

import logging
import os
import sys

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import Runtime, build_app
from bot.config import SlackConfig
from bot.errors import BotConfigError
from bot.logs import hold_sdk_loggers_at_warning
from reaper.bootstrap import build
from reaper.errors import ReaperError


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("REAPER_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    hold_sdk_loggers_at_warning()  # before the secret is read: botocore would log it at DEBUG
    try:
        config = SlackConfig.from_env(require_signing_secret=False)
        if not config.app_token:
            raise BotConfigError("SLACK_APP_TOKEN (an xapp- app-level token) is needed for Socket Mode")
        runtime = Runtime(config, build())  # fail now on bad REAPER_* settings, not on the first click
    except (BotConfigError, ReaperError) as error:
        print(f"bot: error: {error}", file=sys.stderr)
        return 2
    # Socket Mode acks over the websocket; lazy listeners run on Bolt's thread pool.
    app = build_app(runtime, process_before_response=False, bolt_logger=logging.getLogger("slack_bolt"))
    logging.getLogger(__name__).info("connecting to Slack in Socket Mode via %s", config.api_url)
    SocketModeHandler(app, config.app_token).start()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main())
