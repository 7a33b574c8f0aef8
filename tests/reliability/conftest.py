"""Reliability fixtures: the figures collector, and the integration fixtures (table, fleet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import seed, services  # noqa: F401  (shared fixtures)
from tests.reliability.figures import Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    collected.write()
