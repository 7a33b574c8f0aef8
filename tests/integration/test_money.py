"""Costs, savings and their contract end to end: moto over HTTP, the fake Price List, `python -m reaper`.

The demo catalogue (demo.pricelist) prices the rows; moto launches Windows instances
(ami-12c6146b), each with an 8 GiB gp2 root volume and a public IPv4 that moto reports as
owned by the account (an Elastic IP, which keeps costing after a stop).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from demo.emulator import Emulator
from demo.fleet import Machine
from demo.pricelist import PriceListServer
from reaper import decisions, savings
from reaper.money import HOURS_PER_MONTH
from reaper.ports import Services
from reaper.scan import find_idle
from tests.aws import HOME, OTHER, AwsEnv
from tests.integration.conftest import Seed, busy
from tests.integration.test_cli import reaper

T3_WINDOWS = 0.0832 + 2 * 0.0092  # the demo catalogue's t3.large, Windows, us-east-1
M5_WINDOWS = 0.192 + 4 * 0.046
IPV4 = 0.005
GP2_ROOT = 8 * 0.10


def _machines() -> list[Machine]:
    return [
        Machine("small", HOME, [0.5] * 14, [0.5] * 14, "t3.large"),
        Machine("large", HOME, [0.5] * 14, [0.5] * 14, "m5.xlarge"),
        busy("busy"),
    ]


def test_each_proposed_row_is_priced_and_the_rows_are_ordered_by_what_a_stop_saves(
    services: Services, seed: Seed
) -> None:
    seed(_machines())

    report = find_idle(services, [HOME])

    assert [f.instance.name for f in report.proposed] == ["large", "small"]
    large, small = (f.cost for f in report.proposed)
    assert large is not None and small is not None
    assert small.saving_monthly == pytest.approx(T3_WINDOWS * HOURS_PER_MONTH)
    assert small.residual_monthly == pytest.approx(GP2_ROOT + IPV4 * HOURS_PER_MONTH)
    assert large.monthly == pytest.approx((M5_WINDOWS + IPV4) * HOURS_PER_MONTH + GP2_ROOT)


def test_a_cold_cache_asks_each_distinct_price_once_and_a_warm_one_asks_none(
    services: Services, seed: Seed, price_list: PriceListServer
) -> None:
    seed([*_machines(), Machine("small-2", HOME, [0.5] * 14, [0.5] * 14, "t3.large")])

    find_idle(services, [HOME])
    cold = price_list.count()
    find_idle(services, [HOME])
    warm = price_list.count() - cold

    # two instance types (Windows), gp2 storage, public IPv4 in use and idle: five distinct keys
    assert (cold, warm) == (5, 0)


def test_a_price_list_that_fails_leaves_the_rows_unpriced_and_the_report_whole(
    services: Services, seed: Seed, price_list: PriceListServer
) -> None:
    seed(_machines())
    price_list.fail_next("AccessDeniedException", times=20)

    report = find_idle(services, [HOME])

    assert report.errors == {} and len(report.proposed) == 2
    assert all(f.saving_monthly is None for f in report.proposed)
    assert report.to_json()["monthly_saving_usd_total"] is None


def test_scan_json_carries_each_rows_monthly_cost_and_saving_and_their_total(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    ids = seed([*_machines(), Machine("far", OTHER, [0.5] * 14, [0.5] * 14, "m7g.medium")])  # no demo price

    run = reaper(aws, "scan", "--json")

    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    rows = {row["instance_id"]: row for row in document["idle"]}
    assert [row["instance_id"] for row in document["idle"]] == [ids["large"], ids["small"], ids["far"]]
    assert rows[ids["small"]]["monthly_saving_usd"] == round(T3_WINDOWS * HOURS_PER_MONTH, 2)
    assert rows[ids["small"]]["monthly_cost_usd"] == round((T3_WINDOWS + IPV4) * HOURS_PER_MONTH + GP2_ROOT, 2)
    assert rows[ids["far"]]["monthly_cost_usd"] is None and rows[ids["far"]]["monthly_saving_usd"] is None
    assert document["monthly_saving_usd_total"] == round((T3_WINDOWS + M5_WINDOWS) * HOURS_PER_MONTH, 2)


def test_scan_json_without_prices_has_the_same_keys_and_nulls(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    seed(_machines())

    run = reaper(aws, "scan", "--json", REAPER_PRICES="off")

    document = json.loads(run.stdout)
    assert all(row["monthly_cost_usd"] is None and row["monthly_saving_usd"] is None for row in document["idle"])
    assert document["monthly_saving_usd_total"] is None


def test_the_terminal_report_says_what_burns_and_what_a_stop_saves(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    seed(_machines())

    run = reaper(aws, "scan")

    assert run.returncode == 0, run.stderr
    saving = (T3_WINDOWS + M5_WINDOWS) * HOURS_PER_MONTH
    assert f"2 idle instances cost ~${saving + 2 * (GP2_ROOT + IPV4 * HOURS_PER_MONTH):,.0f}/month" in run.stdout
    assert f"stopping them saves ~${saving:,.0f}/month" in run.stdout
    assert "List price, before discounts and Savings Plans." in run.stdout


def test_savings_json_counts_a_stop_from_the_cli(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    ids = seed(_machines())

    stopped = reaper(aws, "stop", ids["small"], "--by", "alice")
    run = reaper(aws, "savings", "--json")

    assert stopped.returncode == 0, stopped.stderr
    document = json.loads(run.stdout)
    assert run.returncode == 0 and document["stops"] == 1 and document["stops_without_price"] == 0
    assert 0 <= document["this_month_usd"] <= document["total_usd"] < 0.01  # seconds of a ~$0.10/h saving
    assert list(document["by_approver_usd"]) == ["alice"]


def test_savings_without_any_stop_say_so(aws: AwsEnv) -> None:
    aws.init()

    run = reaper(aws, "savings")

    assert run.returncode == 0 and "Nothing saved yet" in run.stdout
    assert json.loads(reaper(aws, "savings", "--json").stdout)["total_usd"] == 0


def _restart(aws_endpoint: tuple[str, Emulator | None], aws: AwsEnv, instance_id: str, at: datetime) -> None:
    """StartInstances, then the LaunchTime AWS would report (moto keeps the first launch's)."""
    url, server = aws_endpoint
    if server is None:
        pytest.skip("needs the in-process moto to set LaunchTime as AWS does on a start")
    aws.client("ec2").start_instances(InstanceIds=[instance_id])
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    ec2_backends[DEFAULT_ACCOUNT_ID][HOME].get_instance(instance_id).launch_time = at


def test_a_restart_seen_by_a_scan_ends_the_stops_savings_at_its_launch_time(
    services: Services, seed: Seed, aws: AwsEnv, aws_endpoint: tuple[str, Emulator | None]
) -> None:
    ids = seed(_machines())
    result = decisions.stop_instance(services, ids["small"], "U0ALICE", HOME)
    assert result.decision is not None and result.decision.hourly_saving == pytest.approx(T3_WINDOWS)
    started = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    _restart(aws_endpoint, aws, ids["small"], started)

    find_idle(services, [HOME])

    stop = services.store.get(result.decision.id)
    assert stop.saving_ended_at == started
    assert savings.summary(services).accruing == 0
