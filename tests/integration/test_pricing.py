"""The Price List gateway against the fake Price List on loopback, reached as production reaches AWS.

The client is the one reaper.bootstrap builds: AWS_ENDPOINT_URL points at moto (which has no
Price List API) and AWS_ENDPOINT_URL_PRICING at the fake, so these tests fail if the pricing
client ever goes where AWS_ENDPOINT_URL says.
"""

from __future__ import annotations

import pytest

from demo.pricelist import PriceListServer, compute, ebs, ipv4
from reaper.errors import AwsError
from reaper.money import AddressPrice, ComputePrice, StoragePrice
from reaper.ports import Prices
from tests.aws import HOME, OTHER, AwsEnv


@pytest.fixture
def prices(aws: AwsEnv) -> Prices:
    services = aws.services()
    assert services.prices is not None
    return services.prices


def _filters(body: dict) -> dict[str, str]:
    return {f["Field"]: f["Value"] for f in body["Filters"]}


def test_an_instance_price_is_found_with_the_documented_filters(prices: Prices, price_list: PriceListServer) -> None:
    hourly = prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX"))

    assert hourly == pytest.approx(0.0832)
    [body] = price_list.calls
    assert body["ServiceCode"] == "AmazonEC2" and body["FormatVersion"] == "aws_v1"
    assert all(f["Type"] == "TERM_MATCH" for f in body["Filters"])
    assert _filters(body) == {"regionCode": HOME, "instanceType": "t3.large", "operatingSystem": "Linux",
                              "preInstalledSw": "NA", "licenseModel": "No License required",
                              "tenancy": "Shared", "capacitystatus": "Used"}


def test_windows_and_linux_of_one_type_have_their_own_prices(prices: Prices) -> None:
    linux = prices.price(ComputePrice(HOME, "m5.xlarge", "Linux/UNIX"))
    windows = prices.price(ComputePrice(HOME, "m5.xlarge", "Windows"))

    assert (linux, windows) == (pytest.approx(0.192), pytest.approx(0.192 + 4 * 0.046))


def test_a_product_that_is_not_listed_is_none(prices: Prices, price_list: PriceListServer) -> None:
    assert prices.price(ComputePrice(HOME, "u-6tb1.metal", "Linux/UNIX")) is None
    assert prices.price(ComputePrice(OTHER, "t3.large", "Linux/UNIX", "host")) is None
    assert len(price_list.calls) == 2


def test_a_platform_without_a_mapping_is_none_without_a_call(prices: Prices, price_list: PriceListServer) -> None:
    assert prices.price(ComputePrice(HOME, "t3.large", "Some Future OS")) is None
    assert price_list.calls == []


def test_dedicated_tenancy_and_sql_server_are_asked_as_the_price_list_names_them(
    prices: Prices, price_list: PriceListServer
) -> None:
    price_list.products.append(compute(HOME, "m5.xlarge", 1.1, operating_system="Windows",
                                       pre_installed_sw="SQL Std", tenancy="Dedicated",
                                       operation="RunInstances:0006"))

    hourly = prices.price(ComputePrice(HOME, "m5.xlarge", "Windows with SQL Server Standard", "dedicated"))

    assert hourly == pytest.approx(1.1)
    assert _filters(price_list.calls[0])["tenancy"] == "Dedicated"


def test_products_that_disagree_are_settled_by_the_usage_operation_or_left_unknown(
    prices: Prices, price_list: PriceListServer
) -> None:
    price_list.products.append(compute(HOME, "t3.large", 0.5, operation="RunInstances:FFFF"))
    assert prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX")) == pytest.approx(0.0832)

    price_list.products.append(compute(HOME, "t3.large", 0.7))
    assert prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX")) is None


def test_an_api_error_is_an_aws_error_with_its_code(prices: Prices, price_list: PriceListServer) -> None:
    price_list.fail_next("AccessDeniedException")

    with pytest.raises(AwsError) as raised:
        prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX"))

    assert raised.value.code == "AccessDeniedException"


def test_throttling_is_retried_by_botocore(prices: Prices, price_list: PriceListServer) -> None:
    price_list.fail_next("ThrottlingException")

    assert prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX")) == pytest.approx(0.0832)
    assert len(price_list.calls) == 2


def test_an_answer_that_is_not_a_price_is_an_error_not_zero(prices: Prices, price_list: PriceListServer) -> None:
    price_list.garble_next()

    with pytest.raises(AwsError, match="PriceList item could not be read"):
        prices.price(ComputePrice(HOME, "t3.large", "Linux/UNIX"))


def test_every_page_is_read(prices: Prices, price_list: PriceListServer) -> None:
    price_list.products += [ebs(HOME, "sc1", 0.015, usage=f"EBS:VolumeUsage.sc1.{n}") for n in range(150)]

    assert prices.price(StoragePrice(HOME, "sc1")) == pytest.approx(0.015)
    assert len(price_list.calls) == 2 and price_list.calls[1]["NextToken"]


def test_ebs_storage_iops_and_throughput_are_priced_in_the_reapers_units(prices: Prices) -> None:
    assert prices.price(StoragePrice(HOME, "gp3")) == pytest.approx(0.08)
    assert prices.price(StoragePrice(HOME, "gp3", "iops")) == pytest.approx(0.005)
    assert prices.price(StoragePrice(HOME, "gp3", "throughput")) == pytest.approx(0.04)  # 40.96 per GiBps-month
    assert prices.price(StoragePrice(OTHER, "gp2")) == pytest.approx(0.11)


def test_io2_iops_tiers_are_told_apart_by_usage_type(prices: Prices, price_list: PriceListServer) -> None:
    price_list.products += [
        ebs(OTHER, "io2", 0.072, family="System Operation", unit="IOPS-Mo", usage="EBS:VolumeP-IOPS.io2"),
        ebs(OTHER, "io2", 0.0504, family="System Operation", unit="IOPS-Mo", usage="EBS:VolumeP-IOPS.io2.tier2"),
        ebs(OTHER, "io2", 0.0353, family="System Operation", unit="IOPS-Mo", usage="EBS:VolumeP-IOPS.io2.tier3"),
    ]

    tiers = [prices.price(StoragePrice(OTHER, "io2", d)) for d in ("iops", "iops-tier2", "iops-tier3")]

    assert tiers == [pytest.approx(0.072), pytest.approx(0.0504), pytest.approx(0.0353)]


def test_public_ipv4_is_found_whatever_its_usage_type_prefix(prices: Prices, price_list: PriceListServer) -> None:
    price_list.reset([ipv4(HOME, 0.005), ipv4(OTHER, 0.006, idle=True)])  # USE1-…, EU-…

    assert prices.price(AddressPrice(HOME)) == pytest.approx(0.005)
    assert prices.price(AddressPrice(OTHER, idle=True)) == pytest.approx(0.006)
    assert prices.price(AddressPrice(OTHER)) is None
    assert price_list.calls[0]["ServiceCode"] == "AmazonVPC"
    assert {"Type": "CONTAINS", "Field": "usagetype", "Value": "PublicIPv4:InUseAddress"} in price_list.calls[0][
        "Filters"]


def test_the_pricing_client_signs_for_us_east_1_wherever_the_instance_runs(
    prices: Prices, price_list: PriceListServer
) -> None:
    prices.price(ComputePrice(OTHER, "t3.large", "Linux/UNIX"))

    assert price_list.scopes == ["us-east-1/pricing"]  # and it reached the fake, not moto


def test_prices_switched_off_build_no_gateway(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from reaper import bootstrap
    from reaper.settings import Settings

    services = bootstrap.build(Settings.from_env({**aws.env(), "REAPER_PRICES": "off"}))

    assert services.prices is None
