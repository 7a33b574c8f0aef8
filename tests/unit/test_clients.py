"""How every reaper client is built: its timestamp parser, its timeouts, and one line per error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.parsers import ResponseParserError

from reaper.aws.clients import aws_config, error_text, utc_timestamp
from reaper.settings import Timeouts

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
