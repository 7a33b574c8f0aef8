"""Shared fixtures: AWS over HTTP (moto's server or LocalStack), one fresh namespace per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from demo.emulator import Emulator
from tests.aws import AwsEnv, reset, start_endpoint

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[tuple[str, Emulator | None]]:
    yield from start_endpoint()


@pytest.fixture
def aws(aws_endpoint: tuple[str, Emulator | None], monkeypatch: pytest.MonkeyPatch) -> AwsEnv:
    """A clean AWS: emulator state reset, this test's table and bucket names in the environment."""
    url, server = aws_endpoint
    env = AwsEnv(url)
    reset(url, server, env)
    for key, value in env.env().items():
        monkeypatch.setenv(key, value)
    return env
