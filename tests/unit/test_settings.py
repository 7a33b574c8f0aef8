"""Settings read the environment once; a bad value fails at start-up naming its variable."""

from __future__ import annotations

import re

import pytest

from reaper.errors import SettingsError
from reaper.settings import LAMBDA_TIMEOUTS, TERMINAL_TIMEOUTS, Settings

BASE = {"AWS_REGION": "eu-west-1"}


def test_defaults_scan_the_home_region() -> None:
    s = Settings.from_env(BASE)
    assert s.regions == ("eu-west-1",)
    assert (s.table, s.bucket, s.keep_days) == ("instance-reaper", "instance-reaper-audit", 7)
    p = s.policy
    assert (p.lookback_days, p.cpu_percent, p.cpu_peak_percent, p.network_mb, p.min_days) == (14, 5.0, 20.0, 5.0, 3)
    assert s.endpoint_url is None


def test_aws_default_region_is_a_fallback_for_aws_region() -> None:
    assert Settings.from_env({"AWS_DEFAULT_REGION": "us-west-2"}).home_region == "us-west-2"


def test_a_bad_fallback_region_names_the_variable_it_came_from() -> None:
    with pytest.raises(SettingsError, match="^AWS_DEFAULT_REGION: 'bogus'"):
        Settings.from_env({"AWS_DEFAULT_REGION": "bogus"})


def test_regions_are_split_trimmed_and_deduplicated() -> None:
    s = Settings.from_env({**BASE, "REAPER_REGIONS": " us-east-1, eu-west-1,us-east-1 ,"})
    assert s.regions == ("us-east-1", "eu-west-1")


def test_endpoint_url_is_read_for_every_client() -> None:
    s = Settings.from_env({**BASE, "AWS_ENDPOINT_URL": "http://localhost:4566"})
    assert s.endpoint_url == "http://localhost:4566"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REAPER_LOOKBACK_DAYS", "two weeks"),
        ("REAPER_LOOKBACK_DAYS", "0"),
        ("REAPER_LOOKBACK_DAYS", "33"),
        ("REAPER_CPU_PERCENT", "-1"),
        ("REAPER_CPU_PERCENT", "nan"),
        ("REAPER_CPU_PERCENT", "101"),
        ("REAPER_CPU_PEAK_PERCENT", "high"),
        ("REAPER_CPU_PEAK_PERCENT", "-5"),
        ("REAPER_CPU_PEAK_PERCENT", "inf"),
        ("REAPER_CPU_PEAK_PERCENT", "100.5"),
        ("REAPER_NETWORK_MB", "lots"),
        ("REAPER_MIN_DAYS", "3.5"),
        ("REAPER_KEEP_DAYS", "-7"),
        ("REAPER_REGIONS", "us-east-1,mars-north-1a"),
        ("REAPER_REGIONS", "US-EAST-1"),
        ("AWS_REGION", "nowhere"),
        ("REAPER_TABLE", "a b"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({**BASE, variable: value})


def test_missing_home_region_is_an_error() -> None:
    with pytest.raises(SettingsError, match="AWS_REGION"):
        Settings.from_env({})


def test_min_days_cannot_exceed_the_lookback() -> None:
    with pytest.raises(SettingsError, match="REAPER_MIN_DAYS"):
        Settings.from_env({**BASE, "REAPER_MIN_DAYS": "20", "REAPER_LOOKBACK_DAYS": "14"})


def test_the_peak_threshold_is_read() -> None:
    assert Settings.from_env({**BASE, "REAPER_CPU_PEAK_PERCENT": "35.5"}).policy.cpu_peak_percent == 35.5


def test_a_peak_threshold_below_the_average_threshold_is_refused() -> None:
    # A day's peak is never below its average: such a pair would silently void REAPER_CPU_PERCENT.
    with pytest.raises(SettingsError, match=r"^REAPER_CPU_PEAK_PERCENT \(4\) cannot be below REAPER_CPU_PERCENT \(5\)"):
        Settings.from_env({**BASE, "REAPER_CPU_PEAK_PERCENT": "4"})
    assert Settings.from_env({**BASE, "REAPER_CPU_PEAK_PERCENT": "5"}).policy.cpu_peak_percent == 5.0


def test_the_lookback_goes_up_to_32_days_for_monthly_jobs() -> None:
    assert Settings.from_env({**BASE, "REAPER_LOOKBACK_DAYS": "32"}).policy.lookback_days == 32


def test_a_longer_lookback_is_refused_saying_why() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**BASE, "REAPER_LOOKBACK_DAYS": "90"})
    assert str(raised.value) == (
        "REAPER_LOOKBACK_DAYS: 90 is above the maximum of 32 "
        "(every 32-day window holds a run of a monthly job; README, How it decides)"
    )


@pytest.mark.parametrize("value", ["notaurl", "localhost:4566", "ftp://localhost", "http://", "http://host:port"])
def test_an_endpoint_that_is_not_a_url_is_refused_naming_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match=f"^AWS_ENDPOINT_URL: '{re.escape(value)}' is not an http"):
        Settings.from_env({**BASE, "AWS_ENDPOINT_URL": value})


def test_a_service_endpoint_is_checked_under_its_own_name() -> None:
    with pytest.raises(SettingsError, match="^AWS_ENDPOINT_URL_LAMBDA:"):
        Settings.from_env({**BASE, "AWS_ENDPOINT_URL_LAMBDA": "lambda"})


def test_timeouts_are_the_entry_points_not_the_environments() -> None:
    assert Settings.from_env(BASE).timeouts == LAMBDA_TIMEOUTS
    assert Settings.from_env(BASE, timeouts=TERMINAL_TIMEOUTS).timeouts == TERMINAL_TIMEOUTS


def test_a_terminal_hears_of_a_silent_endpoint_within_half_a_minute() -> None:
    assert TERMINAL_TIMEOUTS.worst_case <= 25
    assert TERMINAL_TIMEOUTS.worst_case == 2 * (2 + 10) + 1


@pytest.mark.parametrize(("raw", "on"), [("", True), ("on", True), ("OFF", False), ("false", False), ("1", True)])
def test_prices_are_on_unless_switched_off(raw: str, on: bool) -> None:
    assert Settings.from_env({**BASE, "REAPER_PRICES": raw}).prices is on


def test_a_prices_switch_that_is_neither_on_nor_off_is_refused() -> None:
    with pytest.raises(SettingsError, match="^REAPER_PRICES: 'maybe' is neither on nor off"):
        Settings.from_env({**BASE, "REAPER_PRICES": "maybe"})


def test_the_look_up_budget_is_seconds_up_to_what_the_lambda_timeout_holds() -> None:
    assert Settings.from_env(BASE).lookup_seconds == 60
    assert Settings.from_env({**BASE, "REAPER_LOOKUP_SECONDS": "0"}).lookup_seconds == 0
    with pytest.raises(SettingsError, match="^REAPER_LOOKUP_SECONDS: 61 is above the maximum of 60$"):
        Settings.from_env({**BASE, "REAPER_LOOKUP_SECONDS": "61"})
