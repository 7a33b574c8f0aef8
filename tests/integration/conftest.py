"""Fixtures for the integration tests: a table and bucket, and a small fleet seeder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from demo.fleet import Machine, launch
from reaper.ports import Services
from tests.aws import AwsEnv


@pytest.fixture
def services(aws: AwsEnv) -> Services:
    return aws.init()


Seed = Callable[[Sequence[Machine]], dict[str, str]]


@pytest.fixture
def seed(aws: AwsEnv) -> Seed:
    def run(machines: Sequence[Machine]) -> dict[str, str]:
        return launch(lambda service, region: aws.client(service, region), machines, datetime.now(UTC))

    return run


def quiet(name: str, region: str = "us-east-1", **kwargs: object) -> Machine:
    return Machine(name, region, [0.5] * 14, [0.5] * 14, **kwargs)  # type: ignore[arg-type]


def busy(name: str, region: str = "us-east-1") -> Machine:
    return Machine(name, region, [50.0] * 14, [500.0] * 14)
