"""boto3 clients built one way: the endpoint from Settings, an explicit retry mode, one session."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from reaper.settings import Settings

_lock = threading.Lock()
_session: boto3.session.Session | None = None
_cache: dict[tuple[str, str, str | None, str], Any] = {}


def aws_config(retry_mode: str = "standard", total_attempts: int = 4, pool: int = 16) -> Config:
    # botocore's default retry mode differs between versions ("legacy" before 1.36); set it.
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": total_attempts},  # type: ignore[arg-type]
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=pool,
    )


def client(service: str, region: str, settings: Settings, *, retry_mode: str = "standard") -> Any:
    """A cached client per (service, region); boto3 clients are thread-safe, sessions are not."""
    key = (service, region, settings.endpoint_url, retry_mode)
    with _lock:
        if key not in _cache:
            global _session
            if _session is None:
                _session = boto3.session.Session()
            _cache[key] = _session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=settings.endpoint_url,
                config=aws_config(retry_mode),
            )
        return _cache[key]


def reset() -> None:
    """Forget cached clients (tests that change the endpoint)."""
    global _session
    with _lock:
        _cache.clear()
        _session = None


def error_text(error: Exception) -> str:
    """One line for an AWS error: the error code and message, without the traceback."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip(" :")
    return str(error)
