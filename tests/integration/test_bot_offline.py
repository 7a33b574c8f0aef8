"""`python -m bot` offline: the start-up check names Slack and the reason in one line."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bot.__main__ import _start_client, check_bot_token
from bot.config import SlackConfig
from bot.errors import BotConfigError


def test_offline_the_bot_token_check_says_slack_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    # Offline, as on a laptop without a network: name resolution fails (and nothing leaves this machine).
    def offline(*_args: Any, **_kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    config = SlackConfig(bot_token="xoxb-1")

    with pytest.raises(BotConfigError) as raised:
        check_bot_token(_start_client(config), config)

    assert str(raised.value) == (
        "cannot reach Slack at https://slack.com/api/: [Errno -3] Temporary failure in name resolution")
