"""Against an endpoint that accepts and never answers, every gateway gives up within its entry point's timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from botocore.exceptions import ReadTimeoutError
from pynamodb.exceptions import PynamoDBException

from reaper.aws import clients
from reaper.aws.dynamo import DecisionStore
from reaper.settings import Settings, Timeouts
from tests.fakes.silent import FakeSilentEndpoint

QUICK = Timeouts(connect=1, read=0.5, attempts=2)


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSilentEndpoint]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    endpoint = FakeSilentEndpoint().start()
    yield endpoint
    endpoint.stop()


def test_a_silent_dynamodb_is_a_read_timeout_error_within_the_store_timeouts(silent: FakeSilentEndpoint) -> None:
    store = DecisionStore("instance-reaper", "us-east-1", silent.url, QUICK)
    started = time.monotonic()

    with pytest.raises(PynamoDBException) as raised:
        store.recent()

    assert "Read timeout" in str(raised.value.cause)
    assert time.monotonic() - started < QUICK.worst_case + 2
    assert silent.connections == QUICK.attempts


def test_a_silent_ec2_endpoint_times_out_within_the_settings_timeouts(silent: FakeSilentEndpoint) -> None:
    settings = replace(Settings.from_env({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": silent.url}), timeouts=QUICK)
    ec2 = clients.client("ec2", "us-east-1", settings)
    started = time.monotonic()

    with pytest.raises(ReadTimeoutError):
        ec2.describe_instances()

    assert time.monotonic() - started < QUICK.worst_case + 2
    assert silent.connections == QUICK.attempts
