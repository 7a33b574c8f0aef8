"""Reliability fixtures: the figures collector, the integration fixtures (table, fleet) and the e2e ones (bot)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import (  # noqa: F401  (shared fixtures; aws_endpoint is the call-counting moto server)
    aws_calls,
    aws_endpoint,
    bot,
    driver,
    fake_lambda,
    fleet,
    slack,
    test_clients,
)
from tests.integration.conftest import seed, services  # noqa: F401  (shared fixtures)
from tests.reliability.figures import Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    collected.write()
