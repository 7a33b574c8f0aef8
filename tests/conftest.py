"""Shared fixtures: AWS over HTTP (moto's server or LocalStack), one fresh namespace per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from demo.emulator import Emulator
from demo.pricelist import PriceListServer
from tests.aws import (
    AwsEnv,
    default_amis_only,
    reset,
    reset_price_list,
    session_names,
    share_service_models,
    start_endpoint,
    start_price_list,
)

logging.getLogger("werkzeug").setLevel(logging.ERROR)
share_service_models()  # each botocore service model parsed once per test process, not once per client
default_amis_only()  # before moto's EC2 is first imported: a reset rebuilds only moto's 44 default images


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[tuple[str, Emulator | None]]:
    yield from start_endpoint()


@pytest.fixture(scope="session")
def aws_names() -> tuple[str, str]:
    return session_names()


@pytest.fixture(scope="session")
def price_list_server() -> Iterator[PriceListServer]:
    yield from start_price_list()


@pytest.fixture
def price_list(price_list_server: PriceListServer) -> PriceListServer:
    """The fake Price List with the demo catalogue, no calls recorded and no faults queued."""
    reset_price_list(price_list_server)
    return price_list_server


@pytest.fixture
def aws(
    aws_endpoint: tuple[str, Emulator | None], aws_names: tuple[str, str], price_list: PriceListServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AwsEnv:
    """A clean AWS: emulator state reset, the session's table and bucket names in the environment,
    prices from the fake Price List (AWS_ENDPOINT_URL_PRICING)."""
    url, server = aws_endpoint
    table, bucket = aws_names
    # An external endpoint (LocalStack) is not reset between tests: there each test keeps names of its own.
    env = (AwsEnv(url, table=table, bucket=bucket, pricing_url=price_list.url) if server is not None
           else AwsEnv(url, pricing_url=price_list.url))
    reset(url, server, env)
    for key, value in env.env().items():
        monkeypatch.setenv(key, value)
    return env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The slow tests first (the order is otherwise kept): under pytest-xdist (`make test`) they
    # start at once, and the short ones fill the other worker, instead of a long test starting
    # last and running alone.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
