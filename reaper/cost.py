"""What the proposed instances cost and what stopping them saves: each price asked once, kept a week.

For the rows a scan proposes:

1. *volumes*: their EBS volumes, one DescribeVolumes a region (200 volumes a call);
2. *keys*: the prices they need — compute by (type, region, platform, tenancy), each volume
   type's storage and provisioned IOPS/throughput, public IPv4 in use and idle;
3. *cache*: one read for every key; only the misses are asked of the Price List, each
   distinct key once, a few at a time;
4. *remember*: a price found is cached for PRICE_TTL, a product the Price List does not
   have for NOT_FOUND_TTL (new types appear there at launch), a failed look-up not at all.

A stop saves the compute and the public IPv4s released with it; EBS volumes and Elastic
IPs keep costing and are shown apart (reaper.money.InstanceCost). Anything that fails — the
volumes, a price, the cache — leaves only the figures that needed it unknown, logged at
WARNING: money never fails a scan, and an unknown is never shown as $0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from reaper.accounts import ec2_for
from reaper.errors import AwsError, ReaperError
from reaper.model import Instance
from reaper.money import (
    GP3_FREE_IOPS,
    GP3_FREE_THROUGHPUT,
    IO2_TIERS,
    AddressPrice,
    ComputePrice,
    InstanceCost,
    PriceKey,
    StoragePrice,
    Volume,
)
from reaper.ports import Services

log = logging.getLogger(__name__)

UNREADABLE = "PriceListUnreadable"  # reaper.aws.pricing's code for a product document it could not read
PRICE_TTL = timedelta(days=7)  # list prices change a few times a year; a weekly refresh is plenty
NOT_FOUND_TTL = timedelta(days=1)
CACHE_PREFIX = "price#"

T = TypeVar("T")
R = TypeVar("R")
Mapper = Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]


@dataclass(frozen=True, slots=True)
class Lookups:
    """How a scan came by its prices: distinct keys, answered by the cache, asked of the Price List."""

    keys: int = 0
    cached: int = 0
    asked: int = 0
    failed: int = 0

    def to_json(self) -> dict[str, int]:
        return {"keys": self.keys, "cached": self.cached, "asked": self.asked, "failed": self.failed}


def price_instances(
    services: Services, instances: Sequence[Instance], *, run: Mapper[Any, Any] = map
) -> tuple[dict[str, InstanceCost], Lookups]:
    """Instance id → what it costs, for these instances (of any regions). Nothing without a Prices port."""
    if services.prices is None or not instances:
        return {}, Lookups()
    volumes = _volumes(services, instances, run)
    keys = {key for i in instances for key in needed(i, volumes.get(i.instance_id))}
    prices, lookups = resolve(services, keys, run=run)
    return {i.instance_id: cost_of(i, volumes.get(i.instance_id), prices) for i in instances}, lookups


def price_one(services: Services, instance: Instance) -> InstanceCost | None:
    """One instance's cost (a stop asked for directly); None when it cannot be priced at all."""
    costs, _ = price_instances(services, [instance])
    return costs.get(instance.instance_id)


def resolve(
    services: Services, keys: Iterable[PriceKey], *, run: Mapper[Any, Any] = map
) -> tuple[dict[PriceKey, float | None], Lookups]:
    """Every key's price: from the cache, else asked once of the Price List (and then cached)."""
    wanted = {CACHE_PREFIX + key.name: key for key in keys}
    if not wanted:
        return {}, Lookups()
    cached = services.cache.get_many(list(wanted)) if services.cache is not None else {}
    prices: dict[PriceKey, float | None] = {}
    for name, key in wanted.items():
        if name in cached:
            value = cached[name]
            prices[key] = float(value) if isinstance(value, int | float) else None
    misses = [key for key in wanted.values() if key not in prices]
    prices_port = services.prices
    assert prices_port is not None

    broken: list[AwsError] = []

    def ask(key: PriceKey) -> float | None | AwsError:
        # Once the Price List has failed (denied, throttled past retries, silent), the keys not yet
        # asked are not asked: a silent endpoint costs one round of calls, not one per key.
        if broken:
            return broken[0]
        try:
            return prices_port.price(key)
        except AwsError as error:
            if error.code != UNREADABLE:  # one product's document, not the service
                broken.append(error)
            return error

    found: dict[str, Any] = {}
    absent: dict[str, Any] = {}
    failed = 0
    for key, answer in zip(misses, run(ask, misses), strict=True):
        if isinstance(answer, AwsError):
            failed += 1
            prices[key] = None
            continue
        prices[key] = answer
        (found if answer is not None else absent)[CACHE_PREFIX + key.name] = answer
    if failed:
        log.warning("%d of %d prices unknown: the Price List failed (%s)", failed, len(misses),
                    broken[0] if broken else "unreadable products")
    if services.cache is not None:
        services.cache.put_many(found, PRICE_TTL)
        services.cache.put_many(absent, NOT_FOUND_TTL)
    return prices, Lookups(len(wanted), len(wanted) - len(misses), len(misses), failed)


def needed(instance: Instance, volumes: Sequence[Volume] | None) -> list[PriceKey]:
    """The prices an instance's cost needs."""
    region = instance.region
    keys: list[PriceKey] = []
    if instance.platform is not None:
        keys.append(ComputePrice(region, instance.instance_type, instance.platform, instance.tenancy))
    for volume in volumes or ():
        keys += [StoragePrice(region, volume.volume_type, dimension) for dimension, _ in _volume_units(volume)]
    if instance.public_ips + instance.elastic_ips:
        keys.append(AddressPrice(region))
    if instance.elastic_ips:
        keys.append(AddressPrice(region, idle=True))
    return keys


def cost_of(
    instance: Instance, volumes: Sequence[Volume] | None, prices: dict[PriceKey, float | None]
) -> InstanceCost:
    region = instance.region
    compute = None
    if instance.platform is not None:
        compute = prices.get(ComputePrice(region, instance.instance_type, instance.platform, instance.tenancy))
    storage: float | None = None
    if volumes is not None:
        storage = 0.0
        for volume in volumes:
            for dimension, units in _volume_units(volume):
                unit_price = prices.get(StoragePrice(region, volume.volume_type, dimension))
                if unit_price is None:
                    storage = None
                    break
                storage += units * unit_price
            if storage is None:
                break
    return InstanceCost(
        compute_hourly=compute,
        storage_monthly=storage,
        ipv4_hourly=_addresses(instance.public_ips + instance.elastic_ips, prices.get(AddressPrice(region))),
        kept_ipv4_hourly=_addresses(instance.elastic_ips, prices.get(AddressPrice(region, idle=True))),
    )


def _addresses(count: int, hourly: float | None) -> float | None:
    if not count:
        return 0.0
    return None if hourly is None else count * hourly


def _volume_units(volume: Volume) -> list[tuple[str, float]]:
    """(price dimension, units a month) of one volume: GB always; IOPS and MiB/s where they are charged."""
    units: list[tuple[str, float]] = [("storage", float(volume.size_gib))]
    iops, throughput = volume.iops or 0, volume.throughput or 0
    if volume.volume_type == "gp3":
        if iops > GP3_FREE_IOPS:
            units.append(("iops", float(iops - GP3_FREE_IOPS)))
        if throughput > GP3_FREE_THROUGHPUT:
            units.append(("throughput", float(throughput - GP3_FREE_THROUGHPUT)))
    elif volume.volume_type == "io1" and iops:
        units.append(("iops", float(iops)))
    elif volume.volume_type == "io2" and iops:
        below = 0
        for limit, dimension in IO2_TIERS:
            top = iops if limit is None else min(iops, limit)
            if top > below:
                units.append((dimension, float(top - below)))
            below = top
    return units


def _volumes(
    services: Services, instances: Sequence[Instance], run: Mapper[Any, Any]
) -> dict[str, list[Volume] | None]:
    """Instance id → its EBS volumes (a volume EC2 no longer knows costs nothing); None for the
    instances of a region whose look-up failed."""
    by_region: dict[tuple[str, str | None], list[Instance]] = {}  # by shard: (region, member account)
    for instance in instances:
        by_region.setdefault((instance.region, instance.account), []).append(instance)

    def look_up(shard: tuple[str, str | None]) -> dict[str, Volume] | ReaperError:
        ids = [v for i in by_region[shard] for v in i.volume_ids]
        try:
            return ec2_for(services, *shard).volumes(ids) if ids else {}
        except ReaperError as error:
            return error

    out: dict[str, list[Volume] | None] = {}
    regions = list(by_region)
    for region, found in zip(regions, run(look_up, regions), strict=True):
        members = by_region[region]
        if isinstance(found, ReaperError):
            log.warning("EBS volumes of %d instances in %s unknown: %s", len(members), region[0], found)
            out.update((i.instance_id, None) for i in members)
            continue
        for instance in members:
            out[instance.instance_id] = [found[v] for v in instance.volume_ids if v in found]
    return out
