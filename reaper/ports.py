"""What the use cases need from the outside world, as small protocols, and the bundle that carries them.

The use cases (scan, decisions, sweep) import only these. The gateways under reaper/aws
implement them against AWS and translate botocore and pynamodb errors into the core's own
(reaper.errors); tests implement them in memory. reaper.bootstrap wires the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from reaper.model import Account, DailyUsage, Decision, DecisionState, Instance, ReportRun, StopAttempt
from reaper.money import PriceKey, Volume
from reaper.settings import Settings


class DecisionStore(Protocol):
    """Decision records and their state machine. Every transition is one conditional write:
    of concurrent callers exactly one wins, the others get AlreadyDecided."""

    def get(self, decision_id: str) -> Decision:
        """The record, read consistently; DecisionNotFound if there is none."""
        ...

    def add_rows(self, rows: Iterable[Decision]) -> None:
        """Record new pending report rows."""
        ...

    def create(self, decision: Decision) -> Decision:
        """Insert one new record (a decision asked for directly, not through a report)."""
        ...

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
        """Move one record from `source` to `target` and append the event, or raise AlreadyDecided
        (with the record as it is). With `unexpired` the row must not have expired at `now`; with
        `channel`/`message_ts` it must belong to that message. `superseded_by` records the newer
        row that closed this one. DecisionNotFound if there is none."""
        ...

    def active_keeps(self, now: datetime, instance_id: str | None = None) -> set[tuple[str, str]]:
        """(region, instance id) of every Keep that has not expired at `now`."""
        ...

    def in_state(self, state: DecisionState, updated_before: datetime | None = None) -> list[Decision]: ...

    def unpublished(self) -> list[Decision]:
        """Records with events not yet in the audit log."""
        ...

    def events(self, decision_id: str) -> list[dict[str, Any]]: ...

    def mark_published(self, decision_id: str, seq: int) -> None:
        """Events up to `seq` are in the audit log."""
        ...

    def note_error(self, decision_id: str, error: str, now: datetime) -> None:
        """Remember a failure of work done for this record, without changing its state."""
        ...

    def recent(self, limit: int = 10) -> list[Decision]:
        """The latest decisions people (or the sweep) made, newest first."""
        ...

    def end_saving(self, decision_id: str, at: datetime) -> None:
        """A stopped instance runs again since `at`: its stop saves nothing after that. Only the
        first end counts (a later call changes nothing)."""
        ...


class AuditLog(Protocol):
    """Write-once audit documents (the record of who decided what)."""

    def put(self, key: str, document: Mapping[str, Any]) -> bool:
        """Write once: True if written now, False if it was already there. AwsError, StoreNotReady."""
        ...


class Ec2(Protocol):
    """One region's instances: the inventory, the look-ups eligibility needs, and one-instance stops."""

    region: str

    def running_pages(self) -> Iterator[list[Instance]]: ...

    def describe(self, instance_id: str) -> Instance | None:
        """The instance in any state, or None when EC2 does not know it."""
        ...

    def stop_protected(self, instance_id: str) -> bool: ...

    def persistent_spot_requests(self, request_ids: Iterable[str]) -> set[str]:
        """Which of these Spot requests are persistent (their instances can be stopped)."""
        ...

    def instance_types_with_local_disks(self, instance_types: Iterable[str]) -> set[str]:
        """Which of these instance types come with instance-store disks, whose data a stop erases.
        AwsError when EC2 did not describe every one of them."""
        ...

    def stop(self, instance_id: str, *, hibernate: bool = False, dry_run: bool = False) -> StopAttempt:
        """Stop exactly one instance. Expected refusals are attempts with their reason; AwsError
        when AWS refused otherwise (nothing stopped); StopUnconfirmed when no answer came.

        `hibernate`: Hibernate=True; HibernationRefused when EC2 refuses the hibernation itself.
        `dry_run`: DryRun=True: a would_stop attempt when EC2 says it would have worked, a failed
        one when it would not; nothing is stopped either way."""
        ...

    def volumes(self, volume_ids: Iterable[str]) -> dict[str, Volume]:
        """These EBS volumes by id (ids EC2 no longer knows are left out). AwsError."""
        ...

    def tag_keep_until(self, instance_id: str, day: str) -> None:
        """Tag one instance reaper:keep-until=`day` (YYYY-MM-DD), the one tag the reaper writes. AwsError."""
        ...


class Metrics(Protocol):
    """One region's daily utilisation."""

    region: str

    def daily_usage(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, *, executor: Executor | None = None
    ) -> dict[str, list[DailyUsage]]:
        """Per instance, one DailyUsage per UTC day in [start, end) with any datapoint, oldest first."""
        ...

    def usage_since(self, instance_id: str, start: datetime, end: datetime) -> list[DailyUsage]:
        """One instance's usage per UTC day from the midnight `start` falls on up to `end`, oldest
        first; the last day stops at `end` (usually now: a partial day). One GetMetricData call."""
        ...


class Cache(Protocol):
    """Answers worth keeping for a while (prices for a week, look-ups for days), shared by every run.

    Values are JSON-serialisable. An entry past its expiry is a miss. A cache that cannot be
    read is a miss and one that cannot be written does nothing: both are logged at WARNING and
    never raised, since nothing may fail for want of a cache.
    """

    def get_many(self, keys: Collection[str]) -> dict[str, Any]:
        """The unexpired entries among `keys` (a key absent from the answer is a miss)."""
        ...

    def put_many(self, items: Mapping[str, Any], ttl: timedelta) -> None: ...


class Prices(Protocol):
    """List prices from the AWS Price List (USD; see reaper.money for each key's unit)."""

    def price(self, key: PriceKey) -> float | None:
        """The price, or None when the Price List has no such product. AwsError when it could not be asked
        or its answer could not be read."""
        ...


class Accounts(Protocol):
    """Member accounts (issue 15): which to scan, and their gateways on credentials from sts:AssumeRole.

    A gateway's AWS errors, the role's AssumeRole refused included, are AwsError when it is first
    used, so a member account whose role is missing fails its own shards and nothing else.
    """

    def listed(self) -> list[Account]:
        """The accounts to scan: REAPER_ACCOUNTS, or the organisation's active accounts. AwsError."""
        ...

    def ec2(self, account_id: str, region: str, *, actor: str | None = None) -> Ec2:
        """EC2 of a member account's region. With `actor` (who decided a stop), the role is assumed
        afresh with that SourceIdentity, so the member account's CloudTrail names them."""
        ...

    def metrics(self, account_id: str, region: str) -> Metrics: ...

    def name(self, account_id: str) -> str | None:
        """The account's name when known (its Organizations name), else None."""
        ...


class ReportRuns(Protocol):
    """Fanned-out reports (issue 15) and their shards' findings, each write conditional: a duplicate
    or redelivered shard message changes nothing. AwsError."""

    def open(self, run: ReportRun) -> bool:
        """Record a new run; False if one with its id exists already."""
        ...

    def get(self, run_id: str) -> ReportRun | None: ...

    def put_shard(self, run_id: str, shard: str, findings: bytes | None, error: str | None) -> bool:
        """Store a shard's packed findings (reaper.codec) or why it failed, once: False if stored already."""
        ...

    def shard_done(self, run_id: str, shard: str) -> ReportRun:
        """Add the shard to the run's done set (a set: adding it twice is adding it once); the run as it now is."""
        ...

    def shards(self, run_id: str, shards: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        """The stored (findings, error) of these shards; a shard not stored is left out."""
        ...

    def claim(self, run_id: str, why: str) -> bool:
        """Mark the run posted, once: True for the one caller that did it."""
        ...


class ShardQueue(Protocol):
    """The queue that triggers this same function once per message (issue 15: fan-out)."""

    def send(self, messages: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        """Send each message (JSON); AwsError when any of them was not accepted."""
        ...


@dataclass(frozen=True)
class Services:
    """Everything a use case needs. Built by reaper.bootstrap from the environment, or by tests from fakes.

    `ec2` and `metrics` give a region's gateway; the real ones build their AWS clients on first use.
    `cache` and `prices` are optional: without them a scan reports its rows without prices.
    """

    settings: Settings
    store: DecisionStore
    audit: AuditLog
    ec2: Callable[[str], Ec2]
    metrics: Callable[[str], Metrics]
    clock: Callable[[], datetime]
    cache: Cache | None = None  # None: nothing is remembered between runs
    prices: Prices | None = None  # None: every price is unknown
    accounts: Accounts | None = None  # many accounts (issue 15); None: this account alone, as before
    runs: ReportRuns | None = None  # fan-out (issue 15): fanned-out reports; None: never fans out
    queue: ShardQueue | None = None
