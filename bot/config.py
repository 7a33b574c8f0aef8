"""The Slack side of the configuration: tokens, channel, approvers and installation, read once."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import BotConfigError
from reaper.errors import SecretUnreadable

DEFAULT_API_URL = "https://slack.com/api/"
_APPROVER = re.compile(r"^[UWS][A-Z0-9]{2,}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Reads a JSON-object secret by (name, region); SecretUnreadable says why it could not.
SecretReader = Callable[[str, str], Mapping[str, Any]]

# Keys a secret (Secrets Manager JSON or SSM SecureString JSON) may provide.
SECRET_KEYS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str = ""
    app_token: str = ""
    channel: str = ""
    approvers: frozenset[str] = frozenset()
    api_url: str = DEFAULT_API_URL
    team_id: str = ""
    app_id: str = ""
    post_interval: float = 1.0
    group_cache_seconds: float = 60.0
    # Owners (issue 14): besides the channel report, one direct message to each owner Slack knows.
    notify_owners: bool = False

    @property
    def approver_users(self) -> frozenset[str]:
        return frozenset(a for a in self.approvers if a[0] in "UW")

    @property
    def approver_groups(self) -> frozenset[str]:
        return frozenset(a for a in self.approvers if a[0] == "S")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        require_signing_secret: bool = True,
        read_secret: SecretReader | None = None,
    ) -> SlackConfig:
        """Read SLACK_* and REAPER_* variables; secrets may come from REAPER_SLACK_SECRET instead.

        `read_secret` is the entry point's way to read that secret (reaper.bootstrap.read_secret,
        with its timeouts).
        """
        env = dict(os.environ if env is None else env)
        secret_name = env.get("REAPER_SLACK_SECRET", "").strip()
        if secret_name:
            if read_secret is None:
                raise BotConfigError("REAPER_SLACK_SECRET is set, but this entry point reads no secrets")
            for key, value in fetch_secret(secret_name, env, read_secret).items():
                if key in SECRET_KEYS and not env.get(key):
                    env[key] = value
        bot_token = env.get("SLACK_BOT_TOKEN", "").strip()
        if not bot_token:
            raise BotConfigError("SLACK_BOT_TOKEN is not set (nor provided by REAPER_SLACK_SECRET)")
        signing_secret = env.get("SLACK_SIGNING_SECRET", "").strip()
        if require_signing_secret and not signing_secret:
            raise BotConfigError("SLACK_SIGNING_SECRET is not set (nor provided by REAPER_SLACK_SECRET)")
        api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        return cls(
            bot_token=bot_token,
            signing_secret=signing_secret,
            app_token=env.get("SLACK_APP_TOKEN", "").strip(),
            channel=env.get("REAPER_CHANNEL", "").strip(),
            approvers=_approvers(env.get("REAPER_APPROVERS", "")),
            api_url=api_url,
            team_id=env.get("SLACK_TEAM_ID", "").strip(),
            app_id=env.get("SLACK_APP_ID", "").strip(),
            post_interval=_seconds(env, "REAPER_POST_INTERVAL", 1.0),
            group_cache_seconds=_seconds(env, "REAPER_GROUP_CACHE_SECONDS", 60.0),
            notify_owners=_switch(env, "REAPER_NOTIFY_OWNERS"),
        )


def _approvers(raw: str) -> frozenset[str]:
    names = [part.strip() for part in re.split(r"[,\s]+", raw) if part.strip()]
    for name in names:
        if not _APPROVER.match(name):
            raise BotConfigError(
                f"REAPER_APPROVERS: {name!r} is not a Slack user (U…/W…) or user group (S…) id"
            )
    return frozenset(names)


def _seconds(env: Mapping[str, str], variable: str, default: float) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BotConfigError(f"{variable}: {raw!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise BotConfigError(f"{variable}: {raw!r} must be between 0 and 3600 seconds")
    return value


def _switch(env: Mapping[str, str], variable: str) -> bool:
    """An on/off variable, off when unset."""
    raw = env.get(variable, "").strip().lower()
    if raw in ("", "off", "false", "no", "0"):
        return False
    if raw in ("on", "true", "yes", "1"):
        return True
    raise BotConfigError(f"{variable}: {raw!r} is neither true nor false")


def log_level(env: Mapping[str, str]) -> str:
    """REAPER_LOG_LEVEL of `python -m bot` (Lambda logs at POWERTOOLS_LOG_LEVEL)."""
    level = env.get("REAPER_LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise BotConfigError(f"REAPER_LOG_LEVEL: {level.lower()!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


def fetch_secret(name: str, env: Mapping[str, str], read_secret: SecretReader) -> dict[str, str]:
    """The Slack secrets as a JSON object, read in the home region."""
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise BotConfigError(f"REAPER_SLACK_SECRET: set AWS_REGION to the region {name} is in")
    try:
        value = read_secret(name, region)
    except SecretUnreadable as error:
        raise BotConfigError(f"REAPER_SLACK_SECRET: {error}") from None
    return {str(k): str(v) for k, v in value.items()}
