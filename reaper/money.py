"""Money values: what to look up in the Price List, what an instance costs, what stopping it saves.

Every figure is a list price in USD, before discounts, Savings Plans and Reserved Instances.
A price that could not be found or read is None, never 0: an unknown part makes the total
it belongs to unknown, and the report says so instead of showing a smaller number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

HOURS_PER_MONTH = 730  # AWS's own convention for monthly figures (8 760 hours / 12)

# gp3's baseline is included in its per-GB price; only what is provisioned above it is charged.
GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT = 125  # MiB/s
# io2 charges provisioned IOPS in tiers: up to 32 000, 32 001–64 000, and above.
IO2_TIERS = ((32_000, "iops"), (64_000, "iops-tier2"), (None, "iops-tier3"))


@dataclass(frozen=True, slots=True)
class ComputePrice:
    """On-demand hourly price of an instance type. `platform` is EC2's PlatformDetails ("Linux/UNIX",
    "Windows", "Red Hat Enterprise Linux", …); `tenancy` its Placement.Tenancy (default, dedicated, host)."""

    region: str
    instance_type: str
    platform: str
    tenancy: str = "default"

    @property
    def name(self) -> str:
        return f"compute#{self.region}#{self.instance_type}#{self.platform}#{self.tenancy}"


@dataclass(frozen=True, slots=True)
class StoragePrice:
    """EBS: `dimension` is "storage" (per GB-month), "iops"/"iops-tier2"/"iops-tier3" (per IOPS-month)
    or "throughput" (per MiB/s-month)."""

    region: str
    volume_type: str
    dimension: str = "storage"

    @property
    def name(self) -> str:
        return f"ebs#{self.region}#{self.volume_type}#{self.dimension}"


@dataclass(frozen=True, slots=True)
class AddressPrice:
    """A public IPv4 address, per hour: in use (on a running instance) or idle (an Elastic IP left
    on a stopped one). AWS lists both, at the same price today."""

    region: str
    idle: bool = False

    @property
    def name(self) -> str:
        return f"ipv4#{self.region}#{'idle' if self.idle else 'in-use'}"


PriceKey = ComputePrice | StoragePrice | AddressPrice


@dataclass(frozen=True, slots=True)
class Volume:
    """An EBS volume as DescribeVolumes tells it: size in GiB, provisioned IOPS and throughput (MiB/s)."""

    volume_id: str
    volume_type: str
    size_gib: int
    iops: int | None = None
    throughput: int | None = None


@dataclass(frozen=True, slots=True)
class InstanceCost:
    """What an instance costs while it runs, and what keeps costing once it is stopped.

    compute_hourly: the instance's on-demand price. ipv4_hourly: every public IPv4 address it
    holds while running. storage_monthly: its EBS volumes, which stay (and are billed) when it
    stops. kept_ipv4_hourly: its Elastic IPs, which stay too; an auto-assigned public IP is
    released at stop, so it is part of what a stop saves. None: not known.
    """

    compute_hourly: float | None
    storage_monthly: float | None = 0.0
    ipv4_hourly: float | None = 0.0
    kept_ipv4_hourly: float | None = 0.0

    @property
    def saving_hourly(self) -> float | None:
        """What a stop saves an hour: the compute, and the public IPv4s that go with it."""
        if self.compute_hourly is None or self.ipv4_hourly is None or self.kept_ipv4_hourly is None:
            return None
        return self.compute_hourly + self.ipv4_hourly - self.kept_ipv4_hourly

    @property
    def saving_monthly(self) -> float | None:
        hourly = self.saving_hourly
        return None if hourly is None else hourly * HOURS_PER_MONTH

    @property
    def residual_monthly(self) -> float | None:
        """What keeps costing a month after a stop: EBS volumes and Elastic IPs."""
        if self.storage_monthly is None or self.kept_ipv4_hourly is None:
            return None
        return self.storage_monthly + self.kept_ipv4_hourly * HOURS_PER_MONTH

    @property
    def monthly(self) -> float | None:
        """The whole monthly cost while running; None if any part of it is unknown."""
        saving, residual = self.saving_monthly, self.residual_monthly
        return None if saving is None or residual is None else saving + residual


@dataclass(frozen=True, slots=True)
class CostTotals:
    """A report's money: sums over the rows whose figure is known, and how many were not."""

    rows: int
    monthly: float
    saving_monthly: float
    residual_monthly: float
    unknown_monthly: int
    unknown_saving: int
    unknown_residual: int


def totals(costs: list[InstanceCost | None]) -> CostTotals:
    def known(values: list[float | None]) -> tuple[float, int]:
        return sum(v for v in values if v is not None), sum(1 for v in values if v is None)

    monthly, unknown_monthly = known([c.monthly if c else None for c in costs])
    saving, unknown_saving = known([c.saving_monthly if c else None for c in costs])
    residual, unknown_residual = known([c.residual_monthly if c else None for c in costs])
    return CostTotals(len(costs), monthly, saving, residual, unknown_monthly, unknown_saving, unknown_residual)


@dataclass(frozen=True, slots=True)
class Savings:
    """What stops have saved: since the first recorded stop, this calendar month (UTC), by approver.

    A stop saves its hourly saving from the moment it was recorded until the instance runs
    again (its LaunchTime, seen by a later scan) or until now. Stops whose saving was not
    known when they were decided are counted in `unpriced`, not as $0.
    """

    total: float
    this_month: float
    by_approver: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    stops: int = 0
    accruing: int = 0
    unpriced: int = 0
    since: datetime | None = None
    as_of: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "total_usd": round(self.total, 2),
            "this_month_usd": round(self.this_month, 2),
            "by_approver_usd": {who: round(v, 2) for who, v in sorted(self.by_approver.items(),
                                                                        key=lambda kv: -kv[1])},
            "stops": self.stops,
            "still_stopped": self.accruing,
            "stops_without_price": self.unpriced,
            "since": self.since.isoformat() if self.since else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def usd(amount: float) -> str:
    """$1,840 for tens and more, $3.65 below ten: a monthly figure is an estimate, not an invoice."""
    return f"${amount:,.0f}" if abs(amount) >= 10 else f"${amount:,.2f}"


LIST_PRICE_NOTE = "List price, before discounts and Savings Plans."


def headline(t: CostTotals) -> str:
    """The report's money in one sentence (the same words in the terminal and in Slack)."""
    if not t.rows:
        return ""
    many, cost, them = ("instances", "cost", "them") if t.rows > 1 else ("instance", "costs", "it")
    if t.unknown_saving == t.rows:
        return f"{t.rows} idle {many}: no list price known, so what stopping {them} saves is unknown."
    text = (f"{t.rows} idle {many} {cost} ~{usd(t.monthly)}/month; stopping {them} saves "
            f"~{usd(t.saving_monthly)}/month (EBS and IPv4 keep costing ~{usd(t.residual_monthly)})")
    if t.unknown_saving:
        text += f"; {t.unknown_saving} without a list price, not counted"
    elif t.unknown_monthly:
        text += f"; EBS of {t.unknown_monthly} not known, not counted"
    return text + "."


def savings_line(s: Savings) -> str:
    """What stops have saved, for a report's header."""
    if not s.stops:
        return "Nothing saved yet: no stops recorded."
    since = f" since {s.since.day} {s.since:%b %Y}" if s.since else ""
    text = f"Stops have saved ~{usd(s.this_month)} this month, ~{usd(s.total)}{since}"
    if s.unpriced:
        text += f" ({s.unpriced} of {s.stops} stops without a known price, not counted)"
    return text + "."
