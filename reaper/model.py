"""Values of the domain: instances, their daily utilisation, verdicts, scan reports and decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from reaper.keeps import read_tag
from reaper.money import InstanceCost, Savings, totals
from reaper.settings import IdlePolicy

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Instance:
    instance_id: str
    region: str
    instance_type: str
    launch_time: datetime
    state: str = "running"
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    root_device_type: str = "ebs"
    lifecycle: str | None = None
    spot_request_id: str | None = None
    # What it costs: PlatformDetails (None: unknown; "Windows" when only Platform says so), Placement's
    # tenancy, its EBS volumes, and its public IPv4s: auto-assigned ones are released at stop, Elastic IPs stay.
    platform: str | None = None
    tenancy: str = "default"
    volume_ids: tuple[str, ...] = ()
    public_ips: int = 0
    elastic_ips: int = 0
    # HibernationOptions.Configured: a stop hibernates it (issue 15, part 3).
    hibernation_configured: bool = False
    # Many accounts (issue 15): the member account it runs in and that account's name (its
    # Organizations name when known). None: the reaper's own account (one account, as before).
    account: str | None = None
    account_name: str | None = None

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One UTC day of CloudWatch data; None means CloudWatch returned no datapoint.

    cpu_percent is the day's average CPUUtilization, cpu_peak_percent its maximum: the
    highest one-minute sample, since EC2 publishes five per five-minute datapoint even
    at basic monitoring.
    """

    day: date
    cpu_percent: float | None = None
    cpu_peak_percent: float | None = None
    network_in_bytes: float | None = None
    network_out_bytes: float | None = None

    @property
    def network_mb(self) -> float:
        return ((self.network_in_bytes or 0.0) + (self.network_out_bytes or 0.0)) / MB


class VerdictKind(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a verdict rests on: peak_cpu_percent is the highest daily maximum, on peak_cpu_day.

    peak_only_busy_days counts the busy days whose average CPU and network were quiet:
    days a policy of daily averages would have called idle.
    """

    days_observed: int
    peak_cpu_percent: float | None
    average_cpu_percent: float | None
    network_mb_per_day: float | None
    peak_network_mb: float | None
    busy_days: int
    peak_cpu_day: date | None = None
    peak_only_busy_days: int = 0
    # Issue 14 (a report that says why): each observed day's average CPU, oldest first (the
    # report's sparkline), and the traffic of the peak CPU day.
    daily_cpu: tuple[float, ...] = ()
    peak_day_network_mb: float | None = None

    @property
    def busy_by_peak_alone(self) -> bool:
        return self.busy_days > 0 and self.busy_days == self.peak_only_busy_days


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    evidence: Evidence
    reason: str


class SkipReason(StrEnum):
    """Why an idle instance is not offered for stopping."""

    EXEMPT = "exempt"
    AUTOSCALING = "autoscaling"
    KUBERNETES = "kubernetes"
    EMR = "emr"
    EC2_FLEET = "ec2_fleet"
    SPOT_FLEET = "spot_fleet"
    BATCH = "batch"
    BEANSTALK = "beanstalk"
    CLOUD9 = "cloud9"
    INSTANCE_STORE = "instance_store"
    LOCAL_DISKS = "local_disks"
    SPOT = "spot"
    STOP_PROTECTION = "stop_protection"
    KEPT = "kept"
    UNCHECKED = "unchecked"
    # Not a reason to skip: stop protection was not asked within the scan's time budget (issue 20).
    # The row is offered, says so, and the click's re-check asks EC2 before anything is stopped.
    NOT_YET_CHECKED = "not_yet_checked"

    @property
    def text(self) -> str:
        return _SKIP_TEXT[self]


_SKIP_TEXT = {
    SkipReason.EXEMPT: "tagged reaper:exempt",
    SkipReason.AUTOSCALING: "member of an Auto Scaling group (it would be replaced)",
    SkipReason.KUBERNETES: "managed by EKS or Karpenter",
    SkipReason.EMR: "node of an EMR cluster (the cluster would lose it)",
    SkipReason.EC2_FLEET: "member of an EC2 Fleet (it would be replaced)",
    SkipReason.SPOT_FLEET: "member of a Spot Fleet (it would be replaced)",
    SkipReason.BATCH: "instance of an AWS Batch compute environment (Batch manages it)",
    SkipReason.BEANSTALK: "instance of an Elastic Beanstalk environment (Beanstalk manages it)",
    SkipReason.CLOUD9: "Cloud9 environment (Cloud9 stops it itself when idle)",
    SkipReason.INSTANCE_STORE: "instance-store root volume (stopping loses it)",
    SkipReason.LOCAL_DISKS: "local instance-store disks would be erased",
    SkipReason.SPOT: "one-time Spot instance (cannot be stopped)",
    SkipReason.STOP_PROTECTION: "stop protection is enabled",
    SkipReason.KEPT: "kept by a team member",
    SkipReason.UNCHECKED: "could not check",
    SkipReason.NOT_YET_CHECKED: "stop protection not yet checked",
}


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an idle instance is not offered; `detail` adds what only this instance says (an error code)."""

    reason: SkipReason
    detail: str | None = None

    @property
    def text(self) -> str:
        return f"{self.reason.text}: {self.detail}" if self.detail else self.reason.text

    @property
    def blocks(self) -> bool:
        """Whether it keeps the instance off the report (all do but "not yet checked", a caveat)."""
        return self.reason is not SkipReason.NOT_YET_CHECKED


@dataclass(frozen=True, slots=True)
class Finding:
    """One scanned instance with its verdict; skip is set when it is idle but not offered."""

    instance: Instance
    verdict: Verdict
    skip: Skip | None = None
    cost: InstanceCost | None = None  # priced for proposed rows only; None: not priced
    owner: str | None = None  # the first REAPER_OWNER_TAGS value it carries (reaper.owners); None: none

    @property
    def proposed(self) -> bool:
        return self.verdict.kind is VerdictKind.IDLE and (self.skip is None or not self.skip.blocks)

    @property
    def caveat(self) -> str | None:
        """What was not checked of a proposed row ("stop protection not yet checked"): the click checks it."""
        return self.skip.text if self.skip is not None and not self.skip.blocks else None

    def to_json(self) -> dict[str, Any]:
        inst, ev = self.instance, self.verdict.evidence
        return {
            "instance_id": inst.instance_id,
            "region": inst.region,
            "name": inst.name,
            "owner": self.owner,
            "instance_type": inst.instance_type,
            "launch_time": inst.launch_time.isoformat(),
            "verdict": self.verdict.kind.value,
            "reason": self.skip.text if self.skip and self.skip.blocks else self.verdict.reason,
            "skip": self.skip.reason.value if self.skip and self.skip.blocks else None,
            "caveat": self.caveat,
            "days_observed": ev.days_observed,
            "peak_cpu_percent": _round(ev.peak_cpu_percent),
            "peak_cpu_day": ev.peak_cpu_day.isoformat() if ev.peak_cpu_day else None,
            "average_cpu_percent": _round(ev.average_cpu_percent),
            "network_mb_per_day": _round(ev.network_mb_per_day),
            "monthly_cost_usd": _cents(self.cost.monthly if self.cost else None),
            "monthly_saving_usd": _cents(self.cost.saving_monthly if self.cost else None),
            "monthly_residual_usd": _cents(self.cost.residual_monthly if self.cost else None),
            "hibernation_configured": inst.hibernation_configured,
            "notes": list(self.notes),
            "account": inst.account,  # many accounts (issue 15): null in the reaper's own account
            "account_name": inst.account_name,
        }

    @property
    def notes(self) -> tuple[str, ...]:
        """What the reader should know that changed nothing: a reaper:keep-until tag that is not a date."""
        note = read_tag(self.instance.tags).note
        return (note,) if note else ()

    @property
    def saving_monthly(self) -> float | None:
        return self.cost.saving_monthly if self.cost else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _cents(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True, slots=True)
class ScanReport:
    """One scan's findings; policy is the IdlePolicy they were judged by."""

    regions: tuple[str, ...]
    findings: tuple[Finding, ...]
    started_at: datetime
    finished_at: datetime
    errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    policy: IdlePolicy | None = None
    savings: Savings | None = None  # what stops have saved so far (None: not known)
    price_lookups: Mapping[str, int] | None = None  # keys needed, from the cache, asked (reaper.cost.Lookups)
    dry_run: bool = False  # REAPER_DRY_RUN: a Stop only proves it would work (issue 15, part 3)
    # Eligibility look-ups (issue 20): answers from the cache, asked of EC2, not yet checked (reaper.lookups).
    eligibility_lookups: Mapping[str, int] | None = None
    # Many accounts (issue 15): every shard asked for ("<account>/<region>"); `errors` is keyed by
    # shard then. Empty in one account, where a region is the shard.
    shards: tuple[str, ...] = ()

    @property
    def scanned_regions(self) -> tuple[str, ...]:
        """The regions asked for, less those that failed: a failed region is never counted as scanned."""
        return tuple(r for r in self.regions if r not in self.errors)

    @property
    def proposed(self) -> list[Finding]:
        """The rows offered for stopping, what a stop saves first (unknown savings last)."""
        rows = [f for f in self.findings if f.proposed]
        return sorted(rows, key=lambda f: (f.saving_monthly is None, -(f.saving_monthly or 0.0)))

    @property
    def skipped(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict.kind is VerdictKind.IDLE and f.skip is not None and f.skip.blocks]

    @property
    def insufficient(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict.kind is VerdictKind.INSUFFICIENT_DATA]

    @property
    def busy(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict.kind is VerdictKind.BUSY]

    @property
    def busy_by_peak(self) -> list[Finding]:
        """Busy only because of their peaks: what judging daily averages alone would have proposed."""
        return [f for f in self.busy if f.verdict.evidence.busy_by_peak_alone]

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        counts: dict[SkipReason, int] = {}
        for finding in self.skipped:
            assert finding.skip is not None
            counts[finding.skip.reason] = counts.get(finding.skip.reason, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": list(self.regions),
            "scanned_regions": list(self.scanned_regions),
            "scanned": len(self.findings),
            "idle": [f.to_json() for f in self.proposed],
            "skipped": [f.to_json() for f in self.skipped],
            "insufficient_data": [f.to_json() for f in self.insufficient],
            "busy": len(self.busy),
            "busy_by_peak": [f.to_json() for f in self.busy_by_peak],
            "errors": dict(self.errors),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "policy": _policy_json(self.policy),
            **self.money_json(),
            "eligibility_lookups": dict(self.eligibility_lookups) if self.eligibility_lookups is not None else None,
            "shards": list(self.shards),  # many accounts: each "<account>/<region>"; [] in one account
            "scanned_shards": [s for s in self.shards if s not in self.errors],
        }

    @property
    def priced(self) -> bool:
        """Whether prices were looked up for the proposed rows (not: REAPER_PRICES=off, or nothing proposed)."""
        return any(f.cost is not None for f in self.proposed)

    def money_json(self) -> dict[str, Any]:
        """Totals over the proposed rows whose figure is known; null when none of them is."""
        proposed = self.proposed
        t = totals([f.cost for f in proposed])

        def total(value: float, unknown: int) -> float | None:
            return None if proposed and unknown == len(proposed) else round(value, 2)

        return {
            "monthly_cost_usd_total": total(t.monthly, t.unknown_monthly),
            "monthly_saving_usd_total": total(t.saving_monthly, t.unknown_saving),
            "monthly_residual_usd_total": total(t.residual_monthly, t.unknown_residual),
            "rows_without_price": t.unknown_saving,
            "price_basis": "on-demand list price (USD), before discounts and Savings Plans; a month is 730 hours",
            "savings": self.savings.to_json() if self.savings else None,
            "price_lookups": dict(self.price_lookups) if self.price_lookups is not None else None,
            "dry_run": self.dry_run,
        }


def _policy_json(policy: IdlePolicy | None) -> dict[str, Any] | None:
    """The thresholds a scan was judged by, so a reader of the JSON knows what idle meant."""
    if policy is None:
        return None
    return {
        "cpu_percent": policy.cpu_percent,
        "cpu_peak_percent": policy.cpu_peak_percent,
        "network_mb": policy.network_mb,
        "lookback_days": policy.lookback_days,
        "min_days": policy.min_days,
    }


class DecisionState(StrEnum):
    """pending → stopping → stopped | failed | skipped | would_stop; pending → kept; pending → expired;
    pending → superseded (a newer report offered the instance again: its row there is the live one).

    would_stop: a dry run (REAPER_DRY_RUN) sent StopInstances with DryRun=True and EC2 said it
    would have worked; nothing was stopped.
    """

    PENDING = "pending"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    SKIPPED = "skipped"
    KEPT = "kept"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    WOULD_STOP = "would_stop"

    @property
    def terminal(self) -> bool:
        return self not in (DecisionState.PENDING, DecisionState.STOPPING)


@dataclass(frozen=True, slots=True)
class Decision:
    """A server-side record: a report row offered for a decision, and what became of it.

    `reason` is why it ended as it did (e.g. why a stop was skipped); `instance_type` and
    `launch_time` are the instance as it was judged, so a click can tell it is still that one.
    """

    id: str
    instance_id: str
    region: str
    state: DecisionState
    created_at: datetime
    expires_at: datetime
    name: str = ""
    instance_type: str | None = None
    launch_time: datetime | None = None
    channel: str | None = None
    message_ts: str | None = None
    actor: str | None = None
    decided_at: datetime | None = None
    updated_at: datetime | None = None
    last_error: str | None = None
    keep_until: datetime | None = None
    reason: str | None = None
    seq: int = 0
    published_seq: int = 0
    events: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)
    # What a stop saves an hour (list price, known when the row was offered), and when that ended:
    # the instance ran again (its LaunchTime). None: not known / still saving.
    hourly_saving: float | None = None
    saving_ended_at: datetime | None = None
    # Issue 14 (a report that says what changed): the newer row that closed this one, how many
    # reports in a row have offered the instance (this one included), and since when it has been
    # idle as far as the reaper knows (the first day judged when it was first offered).
    superseded_by: str | None = None
    reports: int = 1
    # An owner's direct message (REAPER_NOTIFY_OWNERS) repeats a channel row as a row of its own (a
    # button is tied to its message): the id of the channel row it repeats. It is not another report.
    copy_of: str | None = None
    idle_since: datetime | None = None
    # Grace-period stop (issue 15, part 4): the row is the `unanswered`-th consecutive report that
    # offered the instance without an answer; when announced, the sweep stops it at `auto_stop_at`.
    unanswered: int = 0
    auto_stop_at: datetime | None = None

    @property
    def last_event(self) -> str | None:
        """The name of the latest event recorded (e.g. "hibernated"), when the record carries its events."""
        return str(self.events[-1]["event"]) if self.events else None
    owner: str | None = None  # the instance's owner tag value when the row was offered (reaper.owners)
    # Many accounts (issue 15): the member account of the instance and its name; None: the reaper's own.
    account: str | None = None
    account_name: str | None = None

    @property
    def unpublished(self) -> bool:
        return self.published_seq < self.seq


# Events of a stop that did more, or less, than a plain stop (issue 15, part 3).
HIBERNATED = "hibernated"  # StopInstances with Hibernate=True: memory saved to the EBS root volume
NOT_HIBERNATED = "stopped-without-hibernation"  # a plain stop after EC2 refused to hibernate it


@dataclass(frozen=True, slots=True)
class StopAttempt:
    """What an attempt to stop came to: the state to record and why."""

    state: DecisionState
    reason: str
    error_code: str | None = None
    event: str | None = None  # the event to record, when not the state's own (e.g. "hibernated")


class Outcome(StrEnum):
    """Every way a stop or keep request can end, for the caller to render; nothing else happens."""

    NOT_FOUND = "not_found"  # no record has that id
    WRONG_MESSAGE = "wrong_message"  # the record belongs to another Slack message
    EXPIRED = "expired"  # the row's time to decide has passed
    ALREADY_DECIDED = "already_decided"  # someone (or the sweep) decided first
    STOPPED = "stopped"
    SKIPPED = "skipped"  # the re-check found a reason not to stop
    FAILED = "failed"  # AWS refused or failed: nothing was stopped
    UNCONFIRMED = "unconfirmed"  # StopInstances was sent, its answer lost: the sweep settles it
    KEPT = "kept"
    NEEDS_FORCE = "needs_force"  # a stop asked for directly that the policy or REAPER_REGIONS argue against
    SUPERSEDED = "superseded"  # a newer report offers the instance: its row is the one to answer
    WOULD_STOP = "would_stop"  # dry run: EC2 said the stop would have worked; nothing was stopped
    NOT_ALLOWED = "not_allowed"  # the clicker may not do this (not an approver, nor an owner allowed to)

    @property
    def refused(self) -> bool:
        """Nothing was changed: the request was not allowed to act."""
        return self in (Outcome.NOT_FOUND, Outcome.WRONG_MESSAGE, Outcome.EXPIRED, Outcome.ALREADY_DECIDED,
                        Outcome.NEEDS_FORCE, Outcome.NOT_ALLOWED, Outcome.SUPERSEDED)


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome, the record as it now stands (None only when not found), and a sentence for people."""

    outcome: Outcome
    decision: Decision | None
    message: str
    audit_published: bool = True


@dataclass(frozen=True, slots=True)
class Account:
    """A member account to scan and stop in (issue 15): its id, its name when known (its
    Organizations name), and the role the reaper assumes there."""

    id: str
    role_arn: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRun:
    """A fanned-out report (issue 15, reaper.fanout): the shards it waits for and which are in.

    `posted` says why it was posted ("complete" or "deadline"), None while it waits; `names` are
    the member accounts' names known when it started.
    """

    id: str
    shards: tuple[str, ...]
    regions: tuple[str, ...]
    started_at: datetime
    channel: str | None = None
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    done: frozenset[str] = frozenset()
    posted: str | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(s for s in self.shards if s not in self.done)
