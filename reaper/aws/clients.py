"""boto3 clients built one way: the endpoint from Settings, an explicit retry mode, one session."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from botocore.utils import parse_timestamp

from reaper.settings import LAMBDA_TIMEOUTS, Settings, Timeouts

_lock = threading.Lock()
_session: boto3.session.Session | None = None
_cache: dict[tuple[str, str, str | None, str, Timeouts], Any] = {}


def aws_config(timeouts: Timeouts = LAMBDA_TIMEOUTS, retry_mode: str = "standard", pool: int = 16) -> Config:
    # botocore's default retry mode differs between versions ("legacy" before 1.36); set it.
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": timeouts.attempts},  # type: ignore[arg-type]
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        max_pool_connections=pool,
    )


def client(service: str, region: str, settings: Settings, *, retry_mode: str = "standard") -> Any:
    """A cached client per (service, region); boto3 clients are thread-safe, sessions are not.

    Its timeouts are the entry point's (settings.timeouts).
    """
    key = (service, region, settings.endpoint_url, retry_mode, settings.timeouts)
    with _lock:
        if key not in _cache:
            global _session
            if _session is None:
                _session = _new_session()
            _cache[key] = _session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=settings.endpoint_url,
                config=aws_config(settings.timeouts, retry_mode),
            )
        return _cache[key]


def _new_session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=utc_timestamp)
    return boto3.session.Session(botocore_session=core)


def utc_timestamp(value: str | float) -> datetime:
    """Parse an AWS timestamp to an aware UTC datetime, cheaply.

    botocore's default parser builds a new dateutil ``tzlocal()`` for every timestamp and
    parses ISO strings with dateutil: a scan of 10 000 instances reads 420 000 metric
    timestamps, and those zone objects were ~23 MB of its peak memory. AWS sends epoch
    numbers (CBOR, JSON) or ISO 8601 with a zone; anything else goes to botocore's parser.
    """
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(value) if "-" in value else None
    except ValueError:
        parsed = None
    if parsed is None:
        parsed = parse_timestamp(value)  # epoch strings, RFC 822 (S3 headers), the unusual
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def reset() -> None:
    """Forget cached clients (tests that change the endpoint)."""
    global _session
    with _lock:
        _cache.clear()
        _session = None


def error_text(error: Exception, timeouts: Timeouts | None = None) -> str:
    """One line for an AWS error: the error code and message, without the traceback.

    Some botocore messages span lines (ResponseParserError quotes the whole body it could not
    parse): only the first line is kept. With `timeouts`, a timeout says how long was waited.
    """
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        text = f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip(" :")
    else:
        text = str(error).strip()
    text = (text.splitlines() or [type(error).__name__])[0].rstrip(":")
    if timeouts is not None and isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        waited = timeouts.read if isinstance(error, ReadTimeoutError) else timeouts.connect
        text += f" (nothing answered within {waited:g} s, {timeouts.attempts} attempts)"
    return text

