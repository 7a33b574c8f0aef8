"""Shared fixtures: AWS over HTTP (moto's server or LocalStack), one fresh namespace per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from demo.emulator import Emulator
from tests.aws import AwsEnv, reset, session_names, start_endpoint

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[tuple[str, Emulator | None]]:
    yield from start_endpoint()


@pytest.fixture(scope="session")
def aws_names() -> tuple[str, str]:
    return session_names()


@pytest.fixture
def aws(
    aws_endpoint: tuple[str, Emulator | None], aws_names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> AwsEnv:
    """A clean AWS: emulator state reset, the session's table and bucket names in the environment."""
    url, server = aws_endpoint
    table, bucket = aws_names
    # An external endpoint (LocalStack) is not reset between tests: there each test keeps names of its own.
    env = AwsEnv(url, table=table, bucket=bucket) if server is not None else AwsEnv(url)
    reset(url, server, env)
    for key, value in env.env().items():
        monkeypatch.setenv(key, value)
    return env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The slow tests first (the order is otherwise kept): under pytest-xdist (`make test`) they
    # start at once, and the short ones fill the other worker, instead of a long test starting
    # last and running alone.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
