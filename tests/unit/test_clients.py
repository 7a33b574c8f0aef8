"""The timestamp parser every reaper client uses instead of botocore's per-timestamp tzlocal()."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reaper.aws.clients import utc_timestamp

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
