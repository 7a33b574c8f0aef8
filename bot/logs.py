"""Loggers held at WARNING whatever level the root logger is given: at DEBUG they log secrets.

Bolt and slack_sdk log whole requests (bodies, tokens, response_url). botocore logs request
and response bodies even when only the root logger is at DEBUG: the lazy self-invocation's
payload (the Slack request, its signature and response_url) and Secrets Manager's answer
(the tokens).
"""

from __future__ import annotations

import logging

SDK_LOGGERS = ("slack_bolt", "slack_sdk", "botocore", "boto3", "urllib3")


def hold_sdk_loggers_at_warning() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
