"""In-memory fakes of the core's ports (reaper.ports), honouring the real semantics.

FakeDecisionStore's transition is one atomic conditional write, like DynamoDB's: of any
number of concurrent callers exactly one wins and the rest get AlreadyDecided with the
record as it is. Every fake can be told to fail its next calls with the core's own
errors, which is what the gateways translate AWS failures into.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from reaper.errors import AlreadyDecided, AwsError, DecisionNotFound, HibernationRefused
from reaper.model import HIBERNATED, DailyUsage, Decision, DecisionState, Instance, StopAttempt
from reaper.money import PriceKey, Volume
from reaper.ports import Services
from reaper.settings import Settings

HOME = "us-east-1"
OTHER = "eu-west-1"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Failures:
    """Errors to raise from the next calls of an operation, in order."""

    def __init__(self) -> None:
        self._queued: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fail(self, operation: str, error: BaseException, times: int = 1) -> None:
        with self._lock:
            self._queued[operation].extend([error] * times)

    def call(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1
            queued = self._queued.get(operation)
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class FakeDecisionStore:
    def __init__(self) -> None:
        self.records: dict[str, Decision] = {}
        self.failures = Failures()
        self._lock = threading.Lock()

    def get(self, decision_id: str) -> Decision:
        self.failures.call("get")
        with self._lock:
            if decision_id not in self.records:
                raise DecisionNotFound(decision_id)
            return self.records[decision_id]

    def add_rows(self, rows: Iterable[Decision]) -> None:
        self.failures.call("add_rows")
        with self._lock:
            for row in rows:
                self.records[row.id] = row

    def create(self, decision: Decision) -> Decision:
        self.failures.call("create")
        with self._lock:
            if decision.id in self.records:
                raise AwsError("ConditionalCheckFailedException", "ConditionalCheckFailedException")
            self.records[decision.id] = decision
            return decision

    def transition(
        self,
        decision_id: str,
        *,
        source: DecisionState,
        target: DecisionState,
        event: str,
        now: datetime,
        actor: str | None = None,
        reason: str | None = None,
        keep_until: datetime | None = None,
        unexpired: bool = False,
        channel: str | None = None,
        message_ts: str | None = None,
        superseded_by: str | None = None,
    ) -> Decision:
        self.failures.call("transition")
        with self._lock:
            current = self.records.get(decision_id)
            if current is None:
                raise DecisionNotFound(decision_id)
            holds = (
                current.state is source
                and not (unexpired and current.expires_at <= now)
                and (channel is None or current.channel == channel)
                and (message_ts is None or current.message_ts == message_ts)
            )
            if not holds:
                raise AlreadyDecided(current)
            seq = current.seq + 1
            new = replace(
                current,
                state=target,
                updated_at=now,
                seq=seq,
                reason=reason,
                actor=actor if actor is not None else current.actor,
                decided_at=now if target.terminal else current.decided_at,
                keep_until=keep_until if keep_until is not None else current.keep_until,
                superseded_by=superseded_by if superseded_by is not None else current.superseded_by,
                events=(*current.events, {"seq": seq, "event": event, "at": now, "actor": actor,
                                          "state": target.value, "reason": reason}),
            )
            self.records[decision_id] = new
            return new

    def active_keeps(self, now: datetime, instance_id: str | None = None) -> set[tuple[str, str]]:
        self.failures.call("active_keeps")
        return {
            (d.region, d.instance_id)
            for d in self._all()
            if d.state is DecisionState.KEPT and d.keep_until is not None and d.keep_until > now
            and (instance_id is None or d.instance_id == instance_id)
        }

    def in_state(self, state: DecisionState, updated_before: datetime | None = None) -> list[Decision]:
        self.failures.call("in_state")
        return [
            d for d in self._all()
            if d.state is state and (updated_before is None or (d.updated_at or d.created_at) < updated_before)
        ]

    def unpublished(self) -> list[Decision]:
        self.failures.call("unpublished")
        return [d for d in self._all() if d.unpublished]

    def events(self, decision_id: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self.get(decision_id).events]

    def mark_published(self, decision_id: str, seq: int) -> None:
        self.failures.call("mark_published")
        with self._lock:
            current = self.records[decision_id]
            if current.published_seq < seq:
                self.records[decision_id] = replace(current, published_seq=seq)

    def note_error(self, decision_id: str, error: str, now: datetime) -> None:
        self.failures.call("note_error")
        with self._lock:
            if decision_id in self.records:
                self.records[decision_id] = replace(self.records[decision_id], last_error=f"{now.isoformat()} {error}")

    def recent(self, limit: int = 10) -> list[Decision]:
        self.failures.call("recent")
        # As the DynamoDB store: rows nobody answered (pending, expired) are not decisions.
        decided = [d for d in self._all()
                   if d.state not in (DecisionState.PENDING, DecisionState.EXPIRED, DecisionState.SUPERSEDED)]
        return sorted(decided, key=lambda d: d.updated_at or d.created_at, reverse=True)[:limit]

    def end_saving(self, decision_id: str, at: datetime) -> None:
        self.failures.call("end_saving")
        with self._lock:
            current = self.records.get(decision_id)
            if current is not None and current.saving_ended_at is None:
                self.records[decision_id] = replace(current, saving_ended_at=at)

    def _all(self) -> list[Decision]:
        with self._lock:
            return list(self.records.values())


class FakeAuditLog:
    def __init__(self) -> None:
        self.documents: dict[str, Mapping[str, Any]] = {}
        self.failures = Failures()

    def put(self, key: str, document: Mapping[str, Any]) -> bool:
        self.failures.call("put")
        if key in self.documents:
            return False
        self.documents[key] = dict(document)
        return True


class FakeEc2:
    """One region's instances. `stop` moves a running instance to stopping unless told otherwise."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.instances: dict[str, Instance] = {}
        self.protected: set[str] = set()
        self.persistent_requests: set[str] = set()
        self.local_disk_types: set[str] = set()  # instance types with instance-store disks
        self.type_lookups: list[set[str]] = []  # the types each instance_types_with_local_disks call asked for
        self.refusals: dict[str, StopAttempt] = {}  # instance id → what StopInstances answers
        self.failures = Failures()
        self.stopped: list[str] = []
        self.dry_runs: list[str] = []  # StopInstances sent with DryRun=True (issue 15, part 3)
        self.hibernated: list[str] = []  # stopped with Hibernate=True
        self.hibernation_refusals: dict[str, str] = {}  # instance id → the code EC2 refuses Hibernate=True with
        self.page_size = 1000
        self.ebs: dict[str, Volume] = {}  # volume id → volume (DescribeVolumes)
        self.tagged: list[tuple[str, str, str]] = []  # (instance id, key, value) of every tag written

    def add(self, instance: Instance) -> Instance:
        self.instances[instance.instance_id] = instance
        return instance

    def running_pages(self) -> Iterator[list[Instance]]:
        running = [i for i in self.instances.values() if i.state == "running"]
        pages = [running[start : start + self.page_size] for start in range(0, len(running), self.page_size)]
        for page in pages or [[]]:  # like AWS, an empty region is one empty page
            self.failures.call("running_pages")
            yield page

    def describe(self, instance_id: str) -> Instance | None:
        self.failures.call("describe")
        return self.instances.get(instance_id)

    def stop_protected(self, instance_id: str) -> bool:
        self.failures.call("stop_protected")
        return instance_id in self.protected

    def persistent_spot_requests(self, request_ids: Iterable[str]) -> set[str]:
        ids = set(request_ids)
        if not ids:
            return set()
        self.failures.call("persistent_spot_requests")
        return ids & self.persistent_requests

    def instance_types_with_local_disks(self, instance_types: Iterable[str]) -> set[str]:
        types = set(instance_types)
        self.failures.call("instance_types_with_local_disks")
        self.type_lookups.append(types)
        return types & self.local_disk_types

    def stop(self, instance_id: str, *, hibernate: bool = False, dry_run: bool = False) -> StopAttempt:
        """As EC2: a dry run stops nothing (dry_runs lists it); Hibernate=True is refused for the ids
        in hibernation_refusals (their error code), and otherwise recorded in `hibernated`."""
        self.failures.call("stop")
        if hibernate and instance_id in self.hibernation_refusals:
            code = self.hibernation_refusals[instance_id]
            raise HibernationRefused(f"{code}: the instance is not ready to hibernate yet", code)
        if instance_id in self.refusals:
            return self.refusals[instance_id]
        if dry_run:
            self.dry_runs.append(instance_id)
            return StopAttempt(DecisionState.WOULD_STOP, "DRY RUN: EC2 says it would have worked (DryRunOperation)",
                               "DryRunOperation", event="would-stop")
        self.stopped.append(instance_id)
        self.instances[instance_id] = replace(self.instances[instance_id], state="stopping")
        if hibernate:
            self.hibernated.append(instance_id)
            return StopAttempt(DecisionState.STOPPED, "hibernated: EC2 reports the instance stopping",
                               event=HIBERNATED)
        return StopAttempt(DecisionState.STOPPED, "EC2 reports the instance stopping")

    def volumes(self, volume_ids: Iterable[str]) -> dict[str, Volume]:
        ids = set(volume_ids)
        self.failures.call("volumes")
        return {v: self.ebs[v] for v in ids if v in self.ebs}

    def tag_keep_until(self, instance_id: str, day: str) -> None:
        """Writes the tag onto the instance, as CreateTags would (a scan then reads it back)."""
        self.failures.call("tag_keep_until")
        self.tagged.append((instance_id, "reaper:keep-until", day))
        current = self.instances[instance_id]
        self.instances[instance_id] = replace(current, tags=MappingProxyType({**current.tags,
                                                                              "reaper:keep-until": day}))

    def start(self, instance_id: str, at: datetime) -> Instance:
        """Start a stopped instance again, as a person would: running, with a new LaunchTime."""
        started = replace(self.instances[instance_id], state="running", launch_time=at)
        self.instances[instance_id] = started
        return started


class FakeMetrics:
    def __init__(self, region: str) -> None:
        self.region = region
        self.usage: dict[str, list[DailyUsage]] = {}
        self.failures = Failures()

    def daily_usage(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, *, executor: Executor | None = None
    ) -> dict[str, list[DailyUsage]]:
        self.failures.call("daily_usage")
        return {
            i: [d for d in self.usage.get(i, []) if start.date() <= d.day < end.date()] for i in instance_ids
        }

    def usage_since(self, instance_id: str, start: datetime, end: datetime) -> list[DailyUsage]:
        """The stored days from `start`'s day to `end`'s (a day stored for today stands for its hours so far)."""
        self.failures.call("usage_since")
        return [d for d in self.usage.get(instance_id, []) if start.date() <= d.day <= end.date()
                and (d.day < end.date() or end.time() != time(0))]


class FakeCache:
    """reaper.ports.Cache in memory, with expiry by the world's clock. A failure makes a read a miss
    and a write nothing, as the port promises (logged, never raised)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.entries: dict[str, tuple[Any, datetime]] = {}
        self.failures = Failures()

    def get_many(self, keys: Collection[str]) -> dict[str, Any]:
        try:
            self.failures.call("get_many")
        except AwsError as error:
            logging.getLogger(__name__).warning("cache not read: %s", error)
            return {}
        now = self.clock()
        return {k: self.entries[k][0] for k in keys if k in self.entries and self.entries[k][1] > now}

    def put_many(self, items: Mapping[str, Any], ttl: timedelta) -> None:
        if not items:
            return
        try:
            self.failures.call("put_many")
        except AwsError as error:
            logging.getLogger(__name__).warning("cache not written: %s", error)
            return
        expires = self.clock() + ttl
        self.entries.update({k: (v, expires) for k, v in items.items()})


class FakePrices:
    """reaper.ports.Prices from a catalogue; a key not in it is a product the Price List does not have."""

    def __init__(self, catalogue: Mapping[PriceKey, float] | None = None) -> None:
        self.catalogue: dict[PriceKey, float] = dict(catalogue or {})
        self.asked: list[PriceKey] = []
        self.failures = Failures()
        self._lock = threading.Lock()

    def price(self, key: PriceKey) -> float | None:
        with self._lock:
            self.asked.append(key)
        self.failures.call("price")
        return self.catalogue.get(key)


@dataclass
class FakeWorld:
    """Fakes behind every port, and the Services that use them."""

    regions: tuple[str, ...] = (HOME, OTHER)
    clock: FakeClock = field(default_factory=FakeClock)
    store: FakeDecisionStore = field(default_factory=FakeDecisionStore)
    audit: FakeAuditLog = field(default_factory=FakeAuditLog)
    ec2s: dict[str, FakeEc2] = field(default_factory=dict)
    metrics: dict[str, FakeMetrics] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    prices: FakePrices = field(default_factory=FakePrices)
    cache: FakeCache | None = None

    def __post_init__(self) -> None:
        for region in self.regions:
            self.ec2s.setdefault(region, FakeEc2(region))
            self.metrics.setdefault(region, FakeMetrics(region))
        if self.cache is None:
            self.cache = FakeCache(self.clock)

    @property
    def settings(self) -> Settings:
        return Settings.from_env({"AWS_REGION": self.regions[0], "REAPER_REGIONS": ",".join(self.regions),
                                  **self.env})

    @property
    def services(self) -> Services:
        settings = self.settings
        return Services(settings, self.store, self.audit, self.ec2s.__getitem__, self.metrics.__getitem__,
                        self.clock, self.cache, self.prices if settings.prices else None)

    def ec2(self, region: str = HOME) -> FakeEc2:
        return self.ec2s[region]

    def launch(
        self,
        instance_id: str,
        *,
        region: str = HOME,
        cpu: Sequence[float | None] = (0.5,) * 14,
        cpu_peak: Sequence[float | None] | None = None,
        network_mb: Sequence[float | None] | None = None,
        tags: Mapping[str, str] | None = None,
        launched_days_ago: int = 30,
        **fields: Any,
    ) -> Instance:
        """A running instance with a day of usage for each value, the last one yesterday (peaks = averages
        unless given)."""
        instance = Instance(
            instance_id=instance_id,
            region=region,
            instance_type=fields.pop("instance_type", "t3.medium"),
            launch_time=self.clock.now - timedelta(days=launched_days_ago),
            tags=MappingProxyType(dict(tags or {})),
            **fields,
        )
        self.ec2s[region].add(instance)
        network = network_mb if network_mb is not None else [0.5 if c is not None else None for c in cpu]
        peaks = cpu_peak if cpu_peak is not None else cpu
        today = self.clock.now.date()
        self.metrics[region].usage[instance_id] = [
            DailyUsage(today - timedelta(days=len(cpu) - k), cpu_percent=c, cpu_peak_percent=p,
                       network_in_bytes=None if n is None else n * 1e6, network_out_bytes=0.0)
            for k, (c, p, n) in enumerate(zip(cpu, peaks, network, strict=True))
            if c is not None or n is not None
        ]
        return instance
