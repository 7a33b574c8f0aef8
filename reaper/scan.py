"""The scan use case: fetch the running fleet → judge utilisation → check eligibility → report.

Nothing here acts; stopping is reaper.decisions. Regions are scanned concurrently, and
each region costs ceil(n/1000) DescribeInstances pages plus ceil(3n/500) GetMetricData
calls, then one look-up per *idle* candidate for stop protection (and one per region for
Spot request types when idle Spot instances exist).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from reaper import eligibility
from reaper.aws.clients import error_text
from reaper.bootstrap import Services
from reaper.errors import AwsUnavailable
from reaper.model import Finding, Instance, ScanReport, Verdict, VerdictKind
from reaper.policy import judge

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

METRIC_CHUNK = 1000  # instances: 3 000 queries, a whole number of 500-query GetMetricData calls


def window(now: datetime, lookback_days: int) -> tuple[datetime, datetime]:
    """The lookback window: whole UTC days, ending at the start of today."""
    end = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    return end - timedelta(days=lookback_days), end


def find_idle(
    services: Services,
    regions: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> ScanReport:
    """Scan the regions and judge every running instance. Regions that fail are reported."""
    regions = tuple(regions or services.settings.regions)
    started = services.clock()
    kept = services.store.active_keeps(started)
    say = progress or (lambda _message: None)
    findings: list[Finding] = []
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max(1, len(regions)), thread_name_prefix="scan") as pool:
        futures = {r: pool.submit(_scan_region, services, r, started, kept, say) for r in regions}
        for region, future in futures.items():
            try:
                findings.extend(future.result())
            except (ClientError, BotoCoreError) as error:
                log.warning("scan of %s failed: %s", region, error)
                errors[region] = error_text(error)
    if errors and len(errors) == len(regions):
        raise AwsUnavailable("; ".join(f"{r}: {e}" for r, e in errors.items()))
    findings.sort(key=lambda f: (f.instance.region, f.instance.instance_id))
    return ScanReport(regions, tuple(findings), started, services.clock(), errors)


def _scan_region(
    services: Services, region: str, now: datetime, kept: set[tuple[str, str]], say: Progress
) -> list[Finding]:
    ec2 = services.ec2(region)
    start, end = window(now, services.settings.policy.lookback_days)
    instances: list[Instance] = []
    verdicts: dict[str, Verdict] = {}

    def judge_metrics(batch: list[Instance]) -> None:
        # Daily data is judged as soon as it arrives and dropped: only verdicts are kept.
        usage = services.cloudwatch(region).daily_usage([i.instance_id for i in batch], start, end)
        for instance in batch:
            verdicts[instance.instance_id] = judge(usage.pop(instance.instance_id), services.settings.policy)

    # Metrics are read per 1 000 instances (3 000 queries: six full GetMetricData calls), so
    # reading them page by page costs no call more than reading them all at once, whatever
    # size the pages come in, and the daily data of only one chunk is held at a time.
    waiting: list[Instance] = []
    for page in _one_page_at_a_time(ec2.running_pages()):
        instances.extend(page)
        waiting.extend(page)
        while len(waiting) >= METRIC_CHUNK:
            judge_metrics(waiting[:METRIC_CHUNK])
            del waiting[:METRIC_CHUNK]
        say(f"{region}: {len(instances)} running instances, {len(verdicts)} judged")
    if waiting:
        judge_metrics(waiting)
    say(f"{region}: utilisation read for {len(instances)} instances")

    idle = [i for i in instances if verdicts[i.instance_id].kind is VerdictKind.IDLE]
    candidates = [i for i in idle if eligibility.static_skip(i) is None]
    persistent = ec2.persistent_spot_requests(
        i.spot_request_id for i in candidates if eligibility.needs_spot_lookup(i) and i.spot_request_id
    )
    needs_protection_check = [
        i for i in candidates
        if (region, i.instance_id) not in kept
        and not (eligibility.needs_spot_lookup(i) and i.spot_request_id not in persistent)
    ]
    protected = _stop_protected(ec2.stop_protected, needs_protection_check)

    def finding(instance: Instance) -> Finding:
        verdict = verdicts[instance.instance_id]
        if verdict.kind is not VerdictKind.IDLE:
            return Finding(instance, verdict)
        skip = eligibility.skip_reason(
            instance,
            persistent_spot=instance.spot_request_id in persistent,
            stop_protected=instance.instance_id in protected,
            kept=(region, instance.instance_id) in kept,
        )
        return Finding(instance, verdict, skip)

    return [finding(i) for i in instances]


_describe_slot = threading.Lock()


def _one_page_at_a_time(pages: Iterator[list[Instance]]) -> Iterator[list[Instance]]:
    """Fetch DescribeInstances pages one at a time across all regions.

    botocore's parse of a 1 000-instance page peaks around 50 MB before it shrinks to our
    Instance values; regions describing at once would stack those peaks. Metric reads (the
    larger share of a scan's time) still overlap other regions' describes.
    """
    while True:
        with _describe_slot:
            page = next(pages, None)
        if page is None:
            return
        yield page


def _stop_protected(check: Callable[[str], bool], instances: list[Instance]) -> set[str]:
    if not instances:
        return set()
    with ThreadPoolExecutor(min(8, len(instances)), thread_name_prefix="attr") as pool:
        flags = pool.map(lambda i: check(i.instance_id), instances)
        return {i.instance_id for i, protected in zip(instances, flags, strict=True) if protected}
