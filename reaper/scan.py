"""The scan use case: fetch the running fleet → judge utilisation → check eligibility → report.

Nothing here acts; stopping is reaper.decisions. Regions are scanned concurrently, and
each region costs ceil(n/1000) DescribeInstances pages plus ceil(4n/500) GetMetricData
calls (four queries an instance: CPU average and peak, network in and out), then one
look-up per *idle* candidate for stop protection (and one per region for Spot request
types when idle Spot instances exist). Look-ups are remembered between scans
(reaper.lookups: one cache read for all regions, a write only when something was
learned), so an unchanged fleet's second daily scan asks none; those a cold cache needs
are paced per region, and those still unasked when the time budget
(REAPER_LOOKUP_SECONDS) is spent are offered as "stop protection not yet checked".

Then the money (reaper.cost, reaper.savings): the proposed rows are priced — one
DescribeVolumes a region, one cache read, a Price List call per price not cached — and
the stops recorded so far are checked against the running instances just read. Neither
can fail the scan: what could not be found out is unknown.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from reaper import accounts, cost, eligibility, lookups, savings
from reaper.accounts import Shard, ec2_for, metrics_for
from reaper.errors import AwsError, AwsUnavailable, ReaperError
from reaper.model import Finding, Instance, ScanReport, Skip, Verdict, VerdictKind
from reaper.money import Savings
from reaper.owners import owner_of
from reaper.policy import judge, window
from reaper.ports import Ec2, Services
from reaper.settings import LOOKUPS_IN_FLIGHT  # DescribeInstanceAttribute and metric calls, all regions together

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")

# Metrics are read and judged per chunk of 500 instances (2 000 queries: four full
# GetMetricData calls), so reading them page by page costs no call more than reading them
# all at once. One chunk is read at a time while the describes go on: a second chunk in
# flight saved no time against the emulator and cost ~8 MB at 10 000 instances.
METRIC_CHUNK = 500
CHUNKS_IN_FLIGHT = 1
# Shards whose eligibility is assessed at once (their look-ups share the pool of LOOKUPS_IN_FLIGHT
# anyway): every region of one account, and no thread per shard for an organisation's hundreds.
REGIONS_IN_FLIGHT = 16


def find_idle(
    services: Services,
    regions: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
    shards: Sequence[Shard] | None = None,
) -> ScanReport:
    """Scan the regions and judge every running instance. Regions that fail are reported.

    A region named twice is scanned once: its instances are never judged, offered or
    counted twice. With member accounts (reaper.accounts) each region of each account is a
    shard, scanned and reported on its own; `shards` scans exactly these (a fanned-out report's
    message, reaper.fanout).
    """
    regions = tuple(dict.fromkeys(regions or services.settings.regions))
    started = services.clock()
    kept = services.store.active_keeps(started)
    start, end = window(started, services.settings.policy.lookback_days)
    asked = list(shards) if shards is not None else accounts.shards(services, regions)
    scans = [_RegionScan(services, shard, start, end, progress or (lambda _message: None)) for shard in asked]
    with (
        ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="aws") as calls,
        ThreadPoolExecutor(CHUNKS_IN_FLIGHT, thread_name_prefix="chunk") as chunks,
    ):
        _describe_all(scans, lambda scan, batch: chunks.submit(scan.judge, batch, calls))
        for scan in scans:
            scan.wait_for_metrics()
        # Eligibility of the idle instances: its look-ups for all shards share the pool, each
        # shard (an account's region) paced on its own (EC2 throttles per account and region), all
        # within one time budget; what each shard remembers is kept under its label.
        memory = lookups.load(services.cache, [scan.label for scan in scans], started)
        deadline = time.monotonic() + services.settings.lookup_seconds
        with ThreadPoolExecutor(min(len(scans), REGIONS_IN_FLIGHT) or 1, thread_name_prefix="region") as per_region:
            list(per_region.map(lambda scan: scan.assess(kept, calls, memory[scan.label],
                                                         lookups.Pace(deadline)), scans))
        lookups.save(services.cache, memory.values())
    counts = sum((m.counts for m in memory.values()), Counter[str]())
    if counts["not_yet_checked"]:
        (progress or (lambda _message: None))(
            f"stop protection: {counts['not_yet_checked']} idle instances not yet checked within "
            f"{services.settings.lookup_seconds:g} s (offered; a click checks before stopping)")
    errors = {scan.label: scan.error for scan in scans if scan.error is not None}
    if errors and len(errors) == len(scans):
        raise AwsUnavailable("; ".join(f"{r}: {e}" for r, e in errors.items()))
    findings = [f for scan in scans if scan.error is None for f in scan.findings()]
    findings, price_lookups = _priced(services, findings, progress or (lambda _message: None))
    findings.sort(key=lambda f: (f.instance.account or "", f.instance.region, f.instance.instance_id))
    saved = _savings(services, [i for scan in scans if scan.error is None for i in scan.instances])
    return ScanReport(regions, tuple(findings), started, services.clock(), errors, services.settings.policy,
                      saved, price_lookups.to_json() if services.prices is not None else None,
                      shards=tuple(s.label for s in asked if s.account is not None),
                      eligibility_lookups=_lookup_counts(counts), dry_run=services.settings.dry_run)


def _lookup_counts(counts: Counter[str]) -> dict[str, int]:
    """Per look-up, answers from the cache and asked of EC2; and stop protection not asked in time."""
    kinds = (lookups.PROTECTION, lookups.SPOT, lookups.TYPES)
    return {**{f"{k}_{how}": counts[f"{k}_{how}"] for k in kinds for how in ("cached", "asked")},
            "not_yet_checked": counts["not_yet_checked"]}


def _priced(services: Services, findings: list[Finding], say: Progress) -> tuple[list[Finding], cost.Lookups]:
    """The proposed findings with what they cost (unpriced when prices are off or unknown)."""
    proposed = [f.instance for f in findings if f.proposed]
    if services.prices is None or not proposed:
        return findings, cost.Lookups()
    with ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="price") as calls:
        costs, lookups = cost.price_instances(services, proposed, run=calls.map)
    if lookups.keys:
        say(f"prices: {lookups.keys} needed, {lookups.cached} from the cache, {lookups.asked} asked of the Price List"
            + (f", {lookups.failed} failed" if lookups.failed else ""))
    return [replace(f, cost=costs.get(f.instance.instance_id)) if f.proposed else f for f in findings], lookups


def _savings(services: Services, running: list[Instance]) -> Savings | None:
    """What stops have saved, once the stops whose instances run again are settled; None if unknown."""
    try:
        return savings.settle(services, running)
    except ReaperError as error:
        log.warning("savings to date not known: %s", error)
        return None


def _describe_all(scans: list[_RegionScan], submit: Callable[[_RegionScan, list[Instance]], Future[None]]) -> None:
    """DescribeInstances pages of every region, one page at a time, in turn.

    The pages are read on this one thread: botocore parses a 1 000-instance page into a
    ~25 MB XML tree before it shrinks to our Instance values, and a process that parses
    on several threads keeps several such peaks (glibc gives each thread its own heap).
    Metric reads of every region (most of a scan's time) overlap the describes.
    """
    active = list(scans)
    while active:
        for scan in list(active):
            try:
                more = scan.next_page(submit)
            except AwsError as error:
                scan.fail(error)
                more = False
            if not more:
                active.remove(scan)


class _RegionScan:
    """One region's part of a scan: its instances, their verdicts, and its look-ups."""

    def __init__(self, services: Services, shard: Shard, start: datetime, end: datetime, say: Progress) -> None:
        self.services = services
        self.region = shard.region
        self.account = shard.account.id if shard.account is not None else None
        self.label = shard.label  # the region itself in one account
        self.start, self.end = start, end
        self.start_of_scan = services.clock().date()  # the day a reaper:keep-until tag is compared with
        self.say = say
        self.error: str | None = None
        self.instances: list[Instance] = []
        self.verdicts: dict[str, Verdict] = {}
        self.skips: dict[str, Skip | None] = {}
        self._pages: Iterator[list[Instance]] | None = None
        self._waiting: list[Instance] = []
        self._judging: list[Future[None]] = []

    def next_page(self, submit: Callable[[_RegionScan, list[Instance]], Future[None]]) -> bool:
        """Read one more page and hand its complete metric chunks on; False when done."""
        if self.error is not None:
            return False
        if self._pages is None:
            self._pages = self.ec2.running_pages()
        page = next(self._pages, None)
        if page is not None:
            self.instances.extend(page)
            self._waiting.extend(page)
        while len(self._waiting) >= METRIC_CHUNK or (page is None and self._waiting):
            batch, self._waiting = self._waiting[:METRIC_CHUNK], self._waiting[METRIC_CHUNK:]
            self._judging.append(submit(self, batch))
        if page is not None:
            self.say(f"{self.label}: {len(self.instances)} running instances")
        return page is not None

    def judge(self, batch: list[Instance], calls: ThreadPoolExecutor) -> None:
        """Read one chunk's daily data, judge it, and keep only the verdicts."""
        if self.error is not None:
            return
        ids = [i.instance_id for i in batch]
        metrics = metrics_for(self.services, self.region, self.account)
        usage = metrics.daily_usage(ids, self.start, self.end, executor=calls)
        policy = self.services.settings.policy
        self.verdicts.update((instance_id, judge(usage.pop(instance_id), policy)) for instance_id in ids)

    def wait_for_metrics(self) -> None:
        for future in self._judging:
            self.result(future)
        self._judging.clear()
        if self.error is None:
            self.say(f"{self.label}: utilisation read for {len(self.instances)} instances")

    @property
    def ec2(self) -> Ec2:
        return ec2_for(self.services, self.region, self.account)

    def assess(self, kept: set[tuple[str, str]], calls: ThreadPoolExecutor, remembered: lookups.Remembered,
               pace: lookups.Pace) -> None:
        """Why each idle instance may or may not be stopped (only idle ones cost look-ups)."""
        if self.error is not None:
            return
        idle = [i for i in self.instances if self.verdicts[i.instance_id].kind is VerdictKind.IDLE]
        try:
            self.skips = eligibility.assess(idle, self.ec2, kept=kept, run=calls.map, remembered=remembered,
                                            pace=pace, today=self.start_of_scan)
        except AwsError as error:
            self.fail(error)

    def result(self, future: Future[T]) -> T | None:
        """The work's answer, or None once the region has failed."""
        try:
            return future.result()
        except AwsError as error:
            self.fail(error)
            return None

    def findings(self) -> Iterator[Finding]:
        owner_tags = self.services.settings.owner_tags
        for instance in self.instances:
            verdict = self.verdicts[instance.instance_id]
            yield Finding(instance, verdict, self.skips.get(instance.instance_id),
                          owner=owner_of(instance.tags, owner_tags))

    def fail(self, error: AwsError) -> None:
        log.warning("scan of %s failed: %s", self.label, error)
        if self.error is None:
            self.error = str(error)
