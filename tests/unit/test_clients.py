"""How every reaper client is built: its timestamp parser, its timeouts, and one line per error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.parsers import ResponseParserError

from reaper.aws.clients import Clients, aws_config, error_text, utc_timestamp
from reaper.settings import LOOKUPS_IN_FLIGHT, Settings, Timeouts

MOMENT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize("raw", [
    1700000000,  # CBOR and JSON protocols send epoch seconds
    1700000000.0,
    "1700000000",
    "2023-11-14T22:13:20Z",  # XML protocols send ISO 8601
    "2023-11-14T22:13:20.000Z",
    "2023-11-14T23:13:20+01:00",
    "2023-11-14T22:13:20",  # no zone: AWS means UTC
    "Tue, 14 Nov 2023 22:13:20 GMT",  # RFC 822, as in S3's headers
])
def test_every_aws_timestamp_form_becomes_the_same_utc_moment(raw: str | float) -> None:
    parsed = utc_timestamp(raw)

    assert parsed == MOMENT
    assert parsed.tzinfo is UTC


def test_garbage_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        utc_timestamp("not a time")


def test_an_error_spanning_lines_is_told_in_its_first_line() -> None:
    body = b"<!doctype html>\n<title>500 Internal Server Error</title>\n"
    error = ResponseParserError(f"Unable to parse response, invalid XML received:\n{body!r}\nmore")

    assert error_text(error) == "Unable to parse response, invalid XML received"


def test_a_timeout_says_that_nothing_answered() -> None:
    error = ReadTimeoutError(endpoint_url="http://127.0.0.1:9/")

    assert error_text(error) == 'Read timeout on endpoint URL: "http://127.0.0.1:9/" (nothing answered)'


def test_the_client_config_carries_the_timeouts() -> None:
    config = aws_config(Timeouts(connect=2, read=10, attempts=2))

    assert (config.connect_timeout, config.read_timeout) == (2, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


def test_ec2_clients_retry_in_adaptive_mode_and_the_others_in_standard_mode() -> None:
    timeouts = Timeouts(connect=2, read=10, attempts=3)

    assert aws_config(timeouts, "ec2").retries == {"mode": "adaptive", "total_max_attempts": 3}
    for service in ("cloudwatch", "s3", "dynamodb", "secretsmanager", "ssm", "lambda"):
        assert aws_config(timeouts, service).retries == {"mode": "standard", "total_max_attempts": 3}, service


def test_a_client_has_a_connection_for_every_look_up_a_scan_keeps_in_flight() -> None:
    # The scan's look-up pool may put all its threads on one region's client, next to the
    # describe pages and a metric chunk: none of them may wait for a connection.
    assert aws_config(service="ec2").max_pool_connections >= LOOKUPS_IN_FLIGHT + 2


def test_the_clients_of_a_scan_are_built_with_their_services_retry_mode() -> None:
    clients = Clients(Settings.from_env({"AWS_REGION": "us-east-1"}))

    ec2 = clients.client("ec2", "us-east-1")
    cloudwatch = clients.client("cloudwatch", "us-east-1")

    assert ec2.meta.config.retries["mode"] == "adaptive"
    assert cloudwatch.meta.config.retries["mode"] == "standard"
def test_a_service_endpoint_variable_wins_over_aws_endpoint_url() -> None:
    # botocore ignores AWS_ENDPOINT_URL_<SERVICE> when a client is given endpoint_url explicitly,
    # so the per-service variables are read into Settings and chosen per client, as botocore would.
    from reaper.aws.clients import Clients
    from reaper.settings import Settings

    settings = Settings.from_env({"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
                                  "AWS_ENDPOINT_URL_PRICING": "http://127.0.0.1:5000"})
    clients = Clients(settings)

    assert clients.client("pricing", "us-east-1").meta.endpoint_url == "http://127.0.0.1:5000"
    assert clients.client("ec2", "eu-west-1").meta.endpoint_url == "http://127.0.0.1:4566"
    assert settings.endpoint_for("DynamoDB") == "http://127.0.0.1:4566"  # pynamodb takes it as its host
