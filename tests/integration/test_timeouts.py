"""Against an endpoint that accepts and never answers, every gateway gives up within its entry point's timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from reaper.aws.clients import Clients
from reaper.aws.dynamo import DynamoDecisionStore
from reaper.aws.ec2 import Ec2Gateway
from reaper.errors import AwsError
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
    store = DynamoDecisionStore("instance-reaper", "us-east-1", silent.url, QUICK)
    started = time.monotonic()

    with pytest.raises(AwsError) as raised:
        store.recent()

    assert "Read timeout" in str(raised.value)
    assert time.monotonic() - started < QUICK.worst_case + 2
    assert silent.connections == QUICK.attempts


def test_a_silent_ec2_endpoint_times_out_within_the_settings_timeouts(silent: FakeSilentEndpoint) -> None:
    settings = replace(Settings.from_env({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": silent.url}), timeouts=QUICK)
    ec2 = Ec2Gateway(Clients(settings).client("ec2", "us-east-1"), "us-east-1")
    started = time.monotonic()

    with pytest.raises(AwsError, match="nothing answered"):
        ec2.describe("i-0123456789abcdef0")

    assert time.monotonic() - started < QUICK.worst_case + 2
    assert silent.connections == QUICK.attempts
