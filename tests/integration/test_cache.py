"""The DynamoDB cache gateway against moto over HTTP: entries beside the decisions, expiry, failures as misses."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from reaper import bootstrap
from reaper.aws.cache import DynamoCache
from reaper.model import DecisionState
from reaper.ports import Services
from tests.aws import AwsEnv
from tests.calls import fail
from tests.fakes.core import FakeClock

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def cache(services: Services, aws: AwsEnv, clock: FakeClock) -> DynamoCache:
    return bootstrap.dynamo_cache(aws.settings, clock)


def test_entries_come_back_as_they_went_in(cache: DynamoCache) -> None:
    cache.put_many({"price#a": 0.0832, "price#b": None, "owner#c": {"slack": "U0ALICE"}}, timedelta(days=7))

    assert cache.get_many(["price#a", "price#b", "owner#c", "price#missing"]) == {
        "price#a": 0.0832, "price#b": None, "owner#c": {"slack": "U0ALICE"}}


def test_an_entry_past_its_expiry_is_a_miss_before_dynamodb_deletes_it(cache: DynamoCache, clock: FakeClock) -> None:
    cache.put_many({"price#week": 1.0}, timedelta(days=7))
    cache.put_many({"price#day": 2.0}, timedelta(days=1))

    clock.advance(days=2)

    assert cache.get_many(["price#week", "price#day"]) == {"price#week": 1.0}


def test_more_keys_than_one_batch_holds_are_read_and_written(cache: DynamoCache) -> None:
    items = {f"price#{n}": float(n) for n in range(230)}  # BatchGetItem takes 100 keys, BatchWriteItem 25 items

    cache.put_many(items, timedelta(days=7))

    assert cache.get_many(list(items)) == items


def test_cache_entries_stay_out_of_the_decisions_indexes(cache: DynamoCache, services: Services) -> None:
    cache.put_many({f"price#{n}": 1.0 for n in range(5)}, timedelta(days=7))

    assert services.store.recent() == []
    assert services.store.unpublished() == []
    assert all(services.store.in_state(state) == [] for state in DecisionState)


def test_a_cache_that_cannot_be_read_is_a_miss_logged_at_warning(
    cache: DynamoCache, caplog: pytest.LogCaptureFixture
) -> None:
    cache.put_many({"price#a": 1.0}, timedelta(days=7))
    fault = fail(cache.client, "BatchGetItem", "ProvisionedThroughputExceededException")
    try:
        with caplog.at_level(logging.WARNING, logger="reaper.aws.cache"):
            found = cache.get_many(["price#a"])
    finally:
        fault.remove()

    assert found == {}
    assert "not read (ProvisionedThroughputExceededException" in caplog.text


def test_a_cache_that_cannot_be_written_does_nothing_logged_at_warning(
    cache: DynamoCache, caplog: pytest.LogCaptureFixture
) -> None:
    fault = fail(cache.client, "BatchWriteItem", "AccessDeniedException")
    try:
        with caplog.at_level(logging.WARNING, logger="reaper.aws.cache"):
            cache.put_many({"price#a": 1.0}, timedelta(days=7))
    finally:
        fault.remove()

    assert "not written (AccessDeniedException" in caplog.text
    assert cache.get_many(["price#a"]) == {}


def test_a_missing_table_is_a_miss_not_an_error(aws: AwsEnv, caplog: pytest.LogCaptureFixture) -> None:
    cache = bootstrap.dynamo_cache(aws.settings)  # `init` never ran: no table

    with caplog.at_level(logging.WARNING, logger="reaper.aws.cache"):
        assert cache.get_many(["price#a"]) == {}
        cache.put_many({"price#a": 1.0}, timedelta(days=7))

    assert "not read" in caplog.text and "not written" in caplog.text
