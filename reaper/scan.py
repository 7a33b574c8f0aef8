"""The scan use case: fetch the running fleet → judge utilisation → check eligibility → report.

Nothing here acts; stopping is reaper.decisions. Regions are scanned concurrently, and
each region costs ceil(n/1000) DescribeInstances pages plus ceil(3n/500) GetMetricData
calls, then one look-up per *idle* candidate for stop protection (and one per region for
Spot request types when idle Spot instances exist).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from reaper import eligibility
from reaper.aws.clients import error_text
from reaper.bootstrap import Services
from reaper.errors import AwsUnavailable
from reaper.model import Finding, Instance, ScanReport, VerdictKind
from reaper.policy import judge

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


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
    instances = list(ec2.running_instances())
    say(f"{region}: {len(instances)} running instances")
    start, end = window(now, services.settings.policy.lookback_days)
    usage = services.cloudwatch(region).daily_usage([i.instance_id for i in instances], start, end)
    say(f"{region}: utilisation read")
    verdicts = {i.instance_id: judge(usage[i.instance_id], services.settings.policy) for i in instances}

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


def _stop_protected(check: Callable[[str], bool], instances: list[Instance]) -> set[str]:
    if not instances:
        return set()
    with ThreadPoolExecutor(min(8, len(instances)), thread_name_prefix="attr") as pool:
        flags = pool.map(lambda i: check(i.instance_id), instances)
        return {i.instance_id for i, protected in zip(instances, flags, strict=True) if protected}
