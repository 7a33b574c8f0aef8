"""Eligibility look-ups remembered between scans, and paced so that a cold cache never trips EC2's throttle.

Stop protection (DescribeInstanceAttribute disableApiStop, one call per idle candidate), a
Spot request's type and an instance type's local disks change rarely, yet a scan without
memory asks for them every day: at 10 000 instances a third of them idle that is ~1 100
calls a region against a lower bound of 31 (issue 20). So a scan reads what earlier scans
learned, asks EC2 only for what is missing or expired, and writes back what it learned.

*Layout: one cache item per region* (`lookups#<region>`), holding every remembered answer
of that region with its own expiry, read for all regions in one BatchGetItem. The
arithmetic that chose it: an item per instance costs ⌈candidates/100⌉ BatchGetItem calls
a region (BatchGetItem takes 100 keys), 11 a region at 3 334 instances and 33 % idle, 33
calls on a bound of 93; an item per region costs 1 call for every region together. An
answer takes ~37 bytes of JSON, so a region's item is split into shards of SHARD_ENTRIES
answers (~320 KB, under DynamoDB's 400 KB item limit): shard 0 says how many there are,
and only a region with more than 8 000 remembered idle candidates costs a second read.
Two scans running at once each write their own view and the last one wins: the loser's
answers are asked again next time, nothing worse.

*Expiry.* Stop protection is a switch people turn: it is remembered 3 to 5 days (spread by
instance id, so a fleet learned on one day does not expire on one day, and the second
daily scan of an unchanged fleet asks nothing). A stale answer cannot cause a wrong stop:
the click re-checks with EC2 itself (reaper.decisions never passes a memory to
eligibility.assess). Protection turned on since: the row offers Stop and the click answers
"stop protection is enabled". Turned off since: the instance is offered at most 5 days
later, after it has been idle for days already. Three days covers a weekend: a change made
on a Friday shows by the middle of the next week at the latest. A Spot request's type never
changes, but a request EC2 no longer finds reads as not persistent, so it gets the same
short expiry (a wrong "one-time" only keeps an instance off the report). An instance type's
local disks are a fact of the type: 30 days.

*Pacing.* Look-ups that must be asked are paced per region at LOOKUPS_PER_SECOND with a
burst of LOOKUP_BURST: half of EC2's refill for describe-type calls (a bucket of 100, 20 a
second, per account and region, shared with the console, other tools and the scan's own
describes), so the adaptive retry is never needed. A scan spends at most its time budget
(REAPER_LOOKUP_SECONDS) waiting to ask; what is still missing then is reported "stop
protection not yet checked" (offered: the click checks) and asked by the next scan.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reaper.ports import Cache

log = logging.getLogger(__name__)

CACHE_PREFIX = "lookups#"
FORMAT = 1  # the item's layout; an item of another layout is a miss
SHARD_ENTRIES = 8_000  # remembered stop-protection answers per cache item (~40 bytes each: ~320 KB)
PROTECTION_TTL = timedelta(days=3)  # plus up to PROTECTION_SPREAD, by instance id
PROTECTION_SPREAD = timedelta(days=2)
SPOT_TTL = PROTECTION_TTL  # plus the same spread, by request id
TYPE_TTL = timedelta(days=30)
ITEM_TTL = TYPE_TTL  # the cache item outlives every answer in it; each answer has its own expiry
LOOKUPS_PER_SECOND = 10.0  # per region: half of EC2's refill of 20 a second
LOOKUP_BURST = 20

# The look-ups a scan may remember, as counted in a scan's `eligibility_lookups`.
PROTECTION, SPOT, TYPES = "stop_protection", "spot_request", "instance_type"


def _key(region: str, shard: int = 0) -> str:
    return f"{CACHE_PREFIX}{region}" + (f"#{shard}" if shard else "")


def _spread(name: str) -> timedelta:
    """A stable share of PROTECTION_SPREAD for this id (crc32: the same in every process)."""
    return PROTECTION_SPREAD * (zlib.crc32(name.encode()) / 2**32)


@dataclass
class Remembered:
    """One region's remembered answers, what this scan learned, and how each answer came.

    Answers map a name (instance id, Spot request id, instance type) to (answer, expiry as
    epoch seconds). `counts` says per look-up how many answers came from memory
    (`<kind>_cached`), were asked (`<kind>_asked`), or were not asked in time (`not_yet_checked`).
    """

    region: str
    now: datetime
    protected: dict[str, tuple[bool, float]] = field(default_factory=dict)
    spot: dict[str, tuple[bool, float]] = field(default_factory=dict)
    types: dict[str, tuple[bool, float]] = field(default_factory=dict)
    changed: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def known(self, kind: str, names: Iterable[str]) -> dict[str, bool]:
        """The unexpired answers among `names` (counted as cached)."""
        table, now = self._table(kind), self.now.timestamp()
        with self._lock:
            found = {n: table[n][0] for n in names if n in table and table[n][1] > now}
            self.counts[f"{kind}_cached"] += len(found)
        return found

    def learn(self, kind: str, answers: Mapping[str, bool]) -> None:
        """Answers EC2 just gave (counted as asked), each with its expiry."""
        if not answers:
            return
        table = self._table(kind)
        with self._lock:
            for name, answer in answers.items():
                table[name] = (bool(answer), (self.now + self._ttl(kind, name)).timestamp())
            self.counts[f"{kind}_asked"] += len(answers)
            self.changed = True

    def not_yet_checked(self, count: int) -> None:
        with self._lock:
            self.counts["not_yet_checked"] += count

    def _table(self, kind: str) -> dict[str, tuple[bool, float]]:
        return {PROTECTION: self.protected, SPOT: self.spot, TYPES: self.types}[kind]

    @staticmethod
    def _ttl(kind: str, name: str) -> timedelta:
        if kind == TYPES:
            return TYPE_TTL
        return (PROTECTION_TTL if kind == PROTECTION else SPOT_TTL) + _spread(name)

    def items(self) -> dict[str, Any]:
        """The cache items that hold this region's unexpired answers (shard 0 says how many)."""
        now = self.now.timestamp()

        def fresh(table: dict[str, tuple[bool, float]]) -> dict[str, list[Any]]:
            return {n: [int(a), int(e)] for n, (a, e) in sorted(table.items()) if e > now}

        protected = list(fresh(self.protected).items())
        shards = max(1, -(-len(protected) // SHARD_ENTRIES))
        items: dict[str, Any] = {}
        for shard in range(shards):
            part = dict(protected[shard * SHARD_ENTRIES:(shard + 1) * SHARD_ENTRIES])
            value: dict[str, Any] = {"format": FORMAT, "protected": part}
            if shard == 0:
                value.update(shards=shards, spot=fresh(self.spot), types=fresh(self.types))
            items[_key(self.region, shard)] = value
        return items

    def absorb(self, value: Any) -> None:
        """Add the answers of one cache item (one of another layout, or unreadable, adds nothing)."""
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            return
        for kind, item_field in _ITEM_FIELD.items():
            table, entries = self._table(kind), value.get(item_field)
            if isinstance(entries, dict):
                for name, pair in entries.items():
                    if isinstance(pair, list) and len(pair) == 2:
                        table[str(name)] = (bool(pair[0]), float(pair[1]))


_ITEM_FIELD = {PROTECTION: "protected", SPOT: "spot", TYPES: "types"}


def load(cache: Cache | None, regions: Collection[str], now: datetime) -> dict[str, Remembered]:
    """Every region's remembered answers: one cache read for all regions (a second one only for
    regions whose answers fill more than one item). Without a cache, each region starts empty."""
    memory = {region: Remembered(region, now) for region in regions}
    if cache is None or not regions:
        return memory
    first = cache.get_many([_key(region) for region in regions])
    more: list[str] = []
    for region in regions:
        value = first.get(_key(region))
        memory[region].absorb(value)
        shards = value.get("shards", 1) if isinstance(value, dict) else 1
        if isinstance(shards, int) and shards > 1:
            more += [_key(region, shard) for shard in range(1, shards)]
    if more:
        rest = cache.get_many(more)
        for region in regions:
            for key, value in rest.items():
                if key.startswith(_key(region) + "#"):
                    memory[region].absorb(value)
    return memory


def save(cache: Cache | None, memory: Iterable[Remembered]) -> None:
    """Write back the regions that learned something (nothing learned: no write at all)."""
    if cache is None:
        return
    items: dict[str, Any] = {}
    for remembered in memory:
        if remembered.changed:
            items.update(remembered.items())
    if items:
        cache.put_many(items, ITEM_TTL)


class Pace:
    """A token bucket for one region's look-ups, with a deadline: `take` waits for a token, or says
    no at once when the token would come after the deadline (the time budget is spent)."""

    def __init__(
        self,
        deadline: float,
        *,
        rate: float = LOOKUPS_PER_SECOND,
        burst: int = LOOKUP_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.deadline = deadline
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        """True when a look-up may be made now (after waiting for its token); False when the budget is spent."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
        if now >= self.deadline or now + wait > self.deadline:  # a budget of 0 asks nothing
            return False
        if wait:
            self._sleep(wait)
            self._at = now + wait
            self._tokens = 1.0
        self._tokens -= 1
        return True
