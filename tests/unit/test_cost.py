"""What idle instances cost and what a stop saves, on fakes: prices asked once, cached a week, unknown never $0."""

from __future__ import annotations

import pytest

from reaper.errors import AwsError
from reaper.model import ScanReport
from reaper.money import HOURS_PER_MONTH, AddressPrice, ComputePrice, StoragePrice, Volume
from reaper.scan import find_idle
from tests.fakes.core import HOME, OTHER, FakeWorld

LINUX, WINDOWS = "Linux/UNIX", "Windows"
T3_LINUX = ComputePrice(HOME, "t3.large", LINUX)
T3_WINDOWS = ComputePrice(HOME, "t3.large", WINDOWS)
GP3 = StoragePrice(HOME, "gp3")
IPV4 = AddressPrice(HOME)
IPV4_IDLE = AddressPrice(HOME, idle=True)
CATALOGUE = {
    T3_LINUX: 0.0832,
    T3_WINDOWS: 0.1108,
    GP3: 0.08,
    StoragePrice(HOME, "gp3", "iops"): 0.005,
    StoragePrice(HOME, "gp3", "throughput"): 0.04,
    StoragePrice(HOME, "io2"): 0.125,
    StoragePrice(HOME, "io2", "iops"): 0.065,
    StoragePrice(HOME, "io2", "iops-tier2"): 0.0455,
    StoragePrice(HOME, "io2", "iops-tier3"): 0.03185,
    IPV4: 0.005,
    IPV4_IDLE: 0.005,
    ComputePrice(OTHER, "m5.xlarge", LINUX): 0.214,
}


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld()
    world.prices.catalogue.update(CATALOGUE)
    return world


def launch(world: FakeWorld, instance_id: str, *, region: str = HOME, instance_type: str = "t3.large",
           platform: str | None = LINUX, volumes: tuple[Volume, ...] = (), **fields: object) -> None:
    for volume in volumes:
        world.ec2(region).ebs[volume.volume_id] = volume
    world.launch(instance_id, region=region, instance_type=instance_type, platform=platform,
                 volume_ids=tuple(v.volume_id for v in volumes), **fields)


def by_id(report: ScanReport) -> dict[str, dict[str, object]]:
    return {row["instance_id"]: row for row in report.to_json()["idle"]}


def test_a_found_price_gives_the_monthly_cost_the_saving_and_what_keeps_costing(world: FakeWorld) -> None:
    launch(world, "i-dev", volumes=(Volume("vol-1", "gp3", 100),), public_ips=1)

    (finding,) = find_idle(world.services, [HOME]).proposed

    cost = finding.cost
    assert cost is not None
    assert cost.saving_monthly == pytest.approx((0.0832 + 0.005) * HOURS_PER_MONTH)  # compute + the released IPv4
    assert cost.residual_monthly == pytest.approx(100 * 0.08)
    assert cost.monthly == pytest.approx((0.0832 + 0.005) * HOURS_PER_MONTH + 8.0)


def test_a_price_the_price_list_does_not_have_is_unknown_never_zero(world: FakeWorld) -> None:
    launch(world, "i-odd", instance_type="u-6tb1.metal")

    report = find_idle(world.services, [HOME])

    row = by_id(report)["i-odd"]
    assert row["monthly_cost_usd"] is None and row["monthly_saving_usd"] is None
    assert report.to_json()["monthly_saving_usd_total"] is None
    assert report.to_json()["rows_without_price"] == 1


def test_an_api_error_leaves_that_price_unknown_uncached_and_the_scan_whole(world: FakeWorld) -> None:
    launch(world, "i-dev")
    launch(world, "i-busy", cpu=(60.0,) * 14)
    world.prices.failures.fail("price", AwsError("ThrottlingException: Rate exceeded", "ThrottlingException"))

    first = find_idle(world.services, [HOME])
    second = find_idle(world.services, [HOME])

    assert first.errors == {} and len(first.findings) == 2
    assert by_id(first)["i-dev"]["monthly_saving_usd"] is None
    assert by_id(second)["i-dev"]["monthly_saving_usd"] == pytest.approx(0.0832 * HOURS_PER_MONTH, abs=0.01)
    assert world.prices.asked == [T3_LINUX, T3_LINUX]  # the failure was not cached


def test_windows_and_linux_of_the_same_type_are_priced_apart(world: FakeWorld) -> None:
    launch(world, "i-linux")
    launch(world, "i-windows", platform=WINDOWS)

    rows = by_id(find_idle(world.services, [HOME]))

    assert rows["i-linux"]["monthly_saving_usd"] == pytest.approx(0.0832 * HOURS_PER_MONTH, abs=0.01)
    assert rows["i-windows"]["monthly_saving_usd"] == pytest.approx(0.1108 * HOURS_PER_MONTH, abs=0.01)
    assert sorted(k.platform for k in world.prices.asked if isinstance(k, ComputePrice)) == [LINUX, WINDOWS]


def test_an_unknown_platform_is_never_priced_as_linux(world: FakeWorld) -> None:
    launch(world, "i-mystery", platform=None)

    (finding,) = find_idle(world.services, [HOME]).proposed

    assert finding.cost is not None and finding.cost.saving_monthly is None
    assert not any(isinstance(k, ComputePrice) for k in world.prices.asked)


def test_each_distinct_key_is_asked_once_per_scan(world: FakeWorld) -> None:
    for n in range(10):
        launch(world, f"i-{n}", volumes=(Volume(f"vol-{n}", "gp3", 20),))

    find_idle(world.services, [HOME])

    assert sorted(k.name for k in world.prices.asked) == sorted([T3_LINUX.name, GP3.name])
    assert world.ec2().failures.calls["volumes"] == 1  # one DescribeVolumes for the region's rows


def test_a_warm_cache_makes_no_price_list_calls(world: FakeWorld) -> None:
    launch(world, "i-dev", volumes=(Volume("vol-1", "gp3", 20),))
    find_idle(world.services, [HOME])
    asked = len(world.prices.asked)

    world.clock.advance(days=6)
    report = find_idle(world.services, [HOME])

    assert asked == 2 and len(world.prices.asked) == asked
    assert report.proposed[0].cost is not None and report.proposed[0].cost.monthly is not None


def test_prices_expire_after_a_week(world: FakeWorld) -> None:
    launch(world, "i-dev")
    find_idle(world.services, [HOME])

    world.clock.advance(days=7, minutes=1)
    find_idle(world.services, [HOME])

    assert world.prices.asked == [T3_LINUX, T3_LINUX]


def test_a_product_not_found_is_asked_again_the_next_day_not_the_next_scan(world: FakeWorld) -> None:
    launch(world, "i-odd", instance_type="u-6tb1.metal")
    find_idle(world.services, [HOME])
    find_idle(world.services, [HOME])
    asked_same_day = len(world.prices.asked)

    world.clock.advance(days=1, minutes=1)
    find_idle(world.services, [HOME])

    assert (asked_same_day, len(world.prices.asked)) == (1, 2)


def test_a_cache_that_cannot_be_read_or_written_costs_calls_not_the_report(world: FakeWorld) -> None:
    assert world.cache is not None
    launch(world, "i-dev")
    world.cache.failures.fail("get_many", AwsError("ProvisionedThroughputExceededException"), times=2)
    world.cache.failures.fail("put_many", AwsError("ProvisionedThroughputExceededException"), times=2)

    first, second = find_idle(world.services, [HOME]), find_idle(world.services, [HOME])

    for report in (first, second):
        assert report.proposed[0].cost is not None and report.proposed[0].cost.saving_monthly is not None
    assert world.prices.asked == [T3_LINUX, T3_LINUX]


def test_ebs_and_elastic_ips_keep_costing_after_a_stop(world: FakeWorld) -> None:
    volumes = (
        Volume("vol-root", "gp3", 50, iops=6000, throughput=250),  # 3 000 IOPS and 125 MiB/s above the free ones
        Volume("vol-db", "io2", 200, iops=40_000),  # 32 000 at tier 1, 8 000 at tier 2
    )
    launch(world, "i-db", volumes=volumes, public_ips=1, elastic_ips=1)

    (finding,) = find_idle(world.services, [HOME]).proposed

    cost = finding.cost
    assert cost is not None
    gp3 = 50 * 0.08 + 3000 * 0.005 + 125 * 0.04
    io2 = 200 * 0.125 + 32_000 * 0.065 + 8_000 * 0.0455
    assert cost.storage_monthly == pytest.approx(gp3 + io2)
    assert cost.residual_monthly == pytest.approx(gp3 + io2 + 0.005 * HOURS_PER_MONTH)  # the Elastic IP stays
    assert cost.saving_monthly == pytest.approx((0.0832 + 0.005) * HOURS_PER_MONTH)  # the auto-assigned one goes


def test_volumes_that_cannot_be_described_leave_the_saving_known(world: FakeWorld) -> None:
    launch(world, "i-dev", volumes=(Volume("vol-1", "gp3", 20),))
    world.ec2().failures.fail("volumes", AwsError("UnauthorizedOperation", "UnauthorizedOperation"))

    row = by_id(find_idle(world.services, [HOME]))["i-dev"]

    assert row["monthly_cost_usd"] is None and row["monthly_residual_usd"] is None
    assert row["monthly_saving_usd"] == pytest.approx(0.0832 * HOURS_PER_MONTH, abs=0.01)


def test_rows_are_ordered_by_what_a_stop_saves_unknown_last(world: FakeWorld) -> None:
    launch(world, "i-cheap")
    launch(world, "i-unknown", platform=None)
    launch(world, "i-dear", region=OTHER, instance_type="m5.xlarge")
    launch(world, "i-windows", platform=WINDOWS)

    report = find_idle(world.services)

    assert [f.instance.instance_id for f in report.proposed] == ["i-dear", "i-windows", "i-cheap", "i-unknown"]
    assert [row["instance_id"] for row in report.to_json()["idle"]] == ["i-dear", "i-windows", "i-cheap",
                                                                         "i-unknown"]


def test_the_scan_document_totals_the_known_savings(world: FakeWorld) -> None:
    launch(world, "i-a")
    launch(world, "i-b", platform=WINDOWS)
    launch(world, "i-c", platform=None)

    document = find_idle(world.services, [HOME]).to_json()

    assert document["monthly_saving_usd_total"] == pytest.approx((0.0832 + 0.1108) * HOURS_PER_MONTH, abs=0.02)
    assert document["rows_without_price"] == 1
    assert all({"monthly_cost_usd", "monthly_saving_usd"} <= set(row) for row in document["idle"])


def test_prices_switched_off_ask_nothing(world: FakeWorld) -> None:
    world.env["REAPER_PRICES"] = "off"
    launch(world, "i-dev", volumes=(Volume("vol-1", "gp3", 20),))

    report = find_idle(world.services, [HOME])

    assert world.prices.asked == [] and world.ec2().failures.calls["volumes"] == 0
    assert report.proposed[0].cost is None


def test_skipped_and_busy_instances_are_not_priced(world: FakeWorld) -> None:
    launch(world, "i-exempt", tags={"reaper:exempt": "true"})
    launch(world, "i-busy", cpu=(70.0,) * 14)

    find_idle(world.services, [HOME])

    assert world.prices.asked == []


def test_a_price_list_that_fails_is_not_asked_for_the_remaining_keys_that_scan(world: FakeWorld) -> None:
    launch(world, "i-linux", volumes=(Volume("vol-1", "gp3", 20),))
    launch(world, "i-windows", platform=WINDOWS)
    world.prices.failures.fail("price", AwsError("GetProducts: Read timeout on endpoint URL (nothing answered)"))

    report = find_idle(world.services, [HOME])

    assert len(world.prices.asked) == 1  # the fakes run the look-ups one after another
    assert all(f.saving_monthly is None for f in report.proposed)
    assert report.price_lookups == {"keys": 3, "cached": 0, "asked": 3, "failed": 3}


def test_one_unreadable_product_does_not_stop_the_others(world: FakeWorld) -> None:
    launch(world, "i-linux")
    launch(world, "i-windows", platform=WINDOWS)
    world.prices.failures.fail("price", AwsError("GetProducts: a PriceList item could not be read",
                                                 "PriceListUnreadable"))

    report = find_idle(world.services, [HOME])

    assert len(world.prices.asked) == 2
    assert [f.saving_monthly is None for f in report.proposed] == [False, True]
