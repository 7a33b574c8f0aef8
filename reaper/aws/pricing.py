"""AWS Price List gateway: reaper.ports.Prices on boto3's `pricing` client (GetProducts).

The Price List Query API answers from us-east-1 whatever the region priced (PRICE_LIST_REGION);
each key is one GetProducts call (ServiceCode and TERM_MATCH filters narrow it to a product or
a few), paged by NextToken. Every item of `PriceList` is a JSON document as a string:
``product.attributes`` and ``terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.USD``
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/price-list-query-api.html).

Instances are priced by type, region, tenancy and platform; EC2's PlatformDetails is mapped to
the Price List's operatingSystem / preInstalledSw / licenseModel below, and a platform that is
not in the map has no price (never Linux's). EBS volumes are priced per GB-month by
volumeApiName (productFamily Storage), their provisioned IOPS (System Operation) and gp3
throughput (Provisioned Throughput); public IPv4 addresses are AmazonVPC's
PublicIPv4:InUseAddress and PublicIPv4:IdleAddress usage types.

No product: None. Products that disagree on the price: None as well (ambiguous is unknown),
logged. A document that cannot be read: AwsError, like an API error.

IAM: pricing:GetProducts (no resource-level permissions).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from reaper.aws.clients import translated
from reaper.errors import AwsError
from reaper.money import AddressPrice, ComputePrice, PriceKey, StoragePrice

IAM_ACTIONS = ("pricing:GetProducts",)

PRICE_LIST_REGION = "us-east-1"
UNREADABLE = "PriceListUnreadable"  # the AwsError code for a document that is not a price (reaper.cost knows it)
MAX_PAGES = 10  # a filtered query returns a product or a few; more than 1 000 means a filter is wrong

log = logging.getLogger(__name__)

# PlatformDetails (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html) →
# (operatingSystem, preInstalledSw, licenseModel, operation) in the Price List. `operation` is the
# usage operation billed (RunInstances:xxxx), used only to choose between products that disagree.
_LICENSED = "No License required"
PLATFORMS: dict[str, tuple[str, str, str, str]] = {
    "Linux/UNIX": ("Linux", "NA", _LICENSED, "RunInstances"),
    "Red Hat Enterprise Linux": ("RHEL", "NA", _LICENSED, "RunInstances:0010"),
    "Red Hat Enterprise Linux with HA": ("Red Hat Enterprise Linux with HA", "NA", _LICENSED, "RunInstances:1010"),
    "Red Hat Enterprise Linux with SQL Server Standard and HA": (
        "Red Hat Enterprise Linux with HA", "SQL Std", _LICENSED, "RunInstances:1014"),
    "Red Hat Enterprise Linux with SQL Server Enterprise and HA": (
        "Red Hat Enterprise Linux with HA", "SQL Ent", _LICENSED, "RunInstances:1110"),
    "Red Hat Enterprise Linux with SQL Server Standard": ("RHEL", "SQL Std", _LICENSED, "RunInstances:0014"),
    "Red Hat Enterprise Linux with SQL Server Web": ("RHEL", "SQL Web", _LICENSED, "RunInstances:0210"),
    "Red Hat Enterprise Linux with SQL Server Enterprise": ("RHEL", "SQL Ent", _LICENSED, "RunInstances:0110"),
    "SQL Server Standard": ("Linux", "SQL Std", _LICENSED, "RunInstances:0004"),
    "SQL Server Web": ("Linux", "SQL Web", _LICENSED, "RunInstances:0200"),
    "SQL Server Enterprise": ("Linux", "SQL Ent", _LICENSED, "RunInstances:0100"),
    "SUSE Linux": ("SUSE", "NA", _LICENSED, "RunInstances:000g"),
    "Ubuntu Pro": ("Ubuntu Pro", "NA", _LICENSED, "RunInstances:0g00"),
    "Ubuntu Pro Linux": ("Ubuntu Pro", "NA", _LICENSED, "RunInstances:0g00"),
    "Windows": ("Windows", "NA", _LICENSED, "RunInstances:0002"),
    "Windows BYOL": ("Windows", "NA", "Bring your own license", "RunInstances:0800"),
    "Windows with SQL Server Standard": ("Windows", "SQL Std", _LICENSED, "RunInstances:0006"),
    "Windows with SQL Server Web": ("Windows", "SQL Web", _LICENSED, "RunInstances:0202"),
    "Windows with SQL Server Enterprise": ("Windows", "SQL Ent", _LICENSED, "RunInstances:0102"),
}
TENANCY = {"default": "Shared", "dedicated": "Dedicated", "host": "Host"}

# EBS price dimensions: (productFamily, the units it may be quoted in → factor to our unit).
_EBS = {
    "storage": ("Storage", {"GB-Mo": 1.0, "GB-month": 1.0}),
    "iops": ("System Operation", {"IOPS-Mo": 1.0}),
    "iops-tier2": ("System Operation", {"IOPS-Mo": 1.0}),
    "iops-tier3": ("System Operation", {"IOPS-Mo": 1.0}),
    # gp3 throughput is listed per GiBps-month; the reaper prices MiB/s (1 GiBps = 1 024 MiBps).
    "throughput": ("Provisioned Throughput", {"GiBps-mo": 1 / 1024, "MiBps-Mo": 1.0, "MiBps-mo": 1.0}),
}


def _term(field: str, value: str) -> dict[str, str]:
    return {"Type": "TERM_MATCH", "Field": field, "Value": value}


class PriceListGateway:
    """reaper.ports.Prices on a boto3 pricing client (in PRICE_LIST_REGION)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def price(self, key: PriceKey) -> float | None:
        if isinstance(key, ComputePrice):
            return self._compute(key)
        if isinstance(key, StoragePrice):
            return self._storage(key)
        return self._address(key)

    # -- one query per kind of key --------------------------------------------------------

    def _compute(self, key: ComputePrice) -> float | None:
        platform, tenancy = PLATFORMS.get(key.platform), TENANCY.get(key.tenancy)
        if platform is None or tenancy is None:
            log.info("no Price List mapping for platform %r, tenancy %r: price unknown", key.platform, key.tenancy)
            return None
        system, software, licence, operation = platform
        filters = [
            _term("regionCode", key.region),
            _term("instanceType", key.instance_type),
            _term("operatingSystem", system),
            _term("preInstalledSw", software),
            _term("licenseModel", licence),
            _term("tenancy", tenancy),
            _term("capacitystatus", "Used"),
        ]
        offers = [o for o in self._offers("AmazonEC2", filters) if o.unit == "Hrs"]
        hourly = _one(key, offers, prefer=lambda o: o.attributes.get("operation") == operation)
        if hourly == 0:  # no instance runs for free: a $0 product is not this one's price
            log.warning("Price List: $0 an hour for %s: price unknown", key.name)
            return None
        return hourly

    def _storage(self, key: StoragePrice) -> float | None:
        if key.dimension not in _EBS:
            return None
        family, units = _EBS[key.dimension]
        filters = [_term("regionCode", key.region), _term("productFamily", family),
                   _term("volumeApiName", key.volume_type)]
        offers = [o.scaled(units[o.unit]) for o in self._offers("AmazonEC2", filters) if o.unit in units]
        if key.volume_type == "io2" and key.dimension.startswith("iops"):
            # One product per tier: EBS:VolumeP-IOPS.io2, .io2.tier2, .io2.tier3 (with a region prefix).
            tier = key.dimension.removeprefix("iops").removeprefix("-")
            offers = [o for o in offers if _io2_tier(o.attributes.get("usagetype", "")) == tier]
        return _one(key, offers)

    def _address(self, key: AddressPrice) -> float | None:
        usage = "PublicIPv4:IdleAddress" if key.idle else "PublicIPv4:InUseAddress"
        # usagetype carries a region prefix (USE1-, EU-, …): CONTAINS matches it without one.
        filters = [_term("regionCode", key.region), {"Type": "CONTAINS", "Field": "usagetype", "Value": usage}]
        offers = [o for o in self._offers("AmazonVPC", filters)
                  if o.unit == "Hrs" and o.attributes.get("usagetype", "").endswith(usage)]
        return _one(key, offers)

    # -- the wire -------------------------------------------------------------------------

    def _offers(self, service: str, filters: list[dict[str, str]]) -> Iterator[_Offer]:
        """Every OnDemand price dimension of every product matching the filters."""
        pages = 0
        with translated("GetProducts"):
            paginator = self._client.get_paginator("get_products")
            for page in paginator.paginate(ServiceCode=service, Filters=filters, FormatVersion="aws_v1",
                                           PaginationConfig={"PageSize": 100}):
                pages += 1
                for document in page.get("PriceList", []):
                    yield from _read(document)
                if pages >= MAX_PAGES:
                    log.warning("GetProducts %s %s: more than %d pages, the rest ignored", service, filters, pages)
                    return


class _Offer:
    __slots__ = ("attributes", "unit", "usd")

    def __init__(self, attributes: dict[str, str], unit: str, usd: float) -> None:
        self.attributes, self.unit, self.usd = attributes, unit, usd

    def scaled(self, factor: float) -> _Offer:
        return _Offer(self.attributes, self.unit, self.usd * factor)


def _read(document: Any) -> Iterator[_Offer]:
    """The OnDemand dimensions of one PriceList item (a JSON string). AwsError if it is not one."""
    try:
        data = json.loads(document) if isinstance(document, str) else document
        attributes = {str(k): str(v) for k, v in data["product"].get("attributes", {}).items()}
        for offer in data.get("terms", {}).get("OnDemand", {}).values():
            for dimension in offer.get("priceDimensions", {}).values():
                usd = float(dimension["pricePerUnit"]["USD"])
                if usd != usd or usd < 0:  # NaN or negative: not a price
                    raise ValueError(f"USD {usd}")
                yield _Offer(attributes, str(dimension.get("unit", "")), usd)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise AwsError(f"GetProducts: a PriceList item could not be read ({type(error).__name__}: {error})",
                       UNREADABLE) from error


def _io2_tier(usage_type: str) -> str | None:
    if usage_type.endswith("VolumeP-IOPS.io2"):
        return ""
    for tier in ("tier2", "tier3"):
        if usage_type.endswith(f"VolumeP-IOPS.io2.{tier}"):
            return tier
    return None


def _one(key: PriceKey, offers: list[_Offer], prefer: Any = None) -> float | None:
    """The price the offers agree on; None for none, or for offers that disagree even after `prefer`."""
    prices = {round(o.usd, 10) for o in offers}
    if len(prices) > 1 and prefer is not None:
        prices = {round(o.usd, 10) for o in offers if prefer(o)}
    if len(prices) == 1:
        return prices.pop()
    if prices:
        log.warning("Price List: %d different prices for %s (%s): price unknown", len(prices), key.name,
                    ", ".join(f"{p:g}" for p in sorted(prices)))
    return None
