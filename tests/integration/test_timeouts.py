"""Against an endpoint that accepts and never answers, every gateway gives up within its entry point's timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from demo.emulator import FAKE_CREDENTIALS
from reaper.aws.clients import Clients
from reaper.aws.dynamo import DynamoDecisionStore
from reaper.aws.ec2 import Ec2Gateway
from reaper.errors import AwsError
from reaper.settings import Settings, Timeouts
from tests.fakes.silent import FakeSilentEndpoint

QUICK = Timeouts(connect=1, read=0.5, attempts=2)


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSilentEndpoint]:
    for key, value in FAKE_CREDENTIALS.items():
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


def test_the_price_list_client_has_its_own_short_timeouts() -> None:
    from reaper import bootstrap
    from reaper.settings import PRICE_LIST_TIMEOUTS

    gateway = bootstrap.price_list(Settings.from_env({"AWS_REGION": "eu-west-1"}))

    config = gateway._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (PRICE_LIST_TIMEOUTS.connect, PRICE_LIST_TIMEOUTS.read)
    assert config.retries["total_max_attempts"] == PRICE_LIST_TIMEOUTS.attempts
    assert PRICE_LIST_TIMEOUTS.worst_case < 30


def test_a_silent_price_list_costs_a_scan_one_wait_not_one_per_price(silent: FakeSilentEndpoint) -> None:
    from reaper import cost
    from reaper.aws.pricing import PriceListGateway
    from reaper.model import Instance
    from tests.fakes.core import START, FakeWorld

    settings = replace(Settings.from_env({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_PRICING": silent.url}),
                       timeouts=QUICK)
    services = replace(FakeWorld().services, prices=PriceListGateway(Clients(settings).client("pricing", "us-east-1")))
    instances = [Instance(f"i-{n}", "us-east-1", f"t3.{size}", START, platform="Linux/UNIX")
                 for n, size in enumerate(("micro", "small", "medium", "large", "xlarge", "2xlarge"))]
    started = time.monotonic()

    costs, lookups = cost.price_instances(services, instances)  # one look-up at a time, as `map` runs them

    assert time.monotonic() - started < QUICK.worst_case + 2
    assert silent.connections == QUICK.attempts  # the first price only: nothing more is asked that scan
    assert lookups.failed == 6 and all(c.saving_monthly is None for c in costs.values())
