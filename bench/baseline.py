"""The per-instance baseline: what Cloud Custodian's `metrics` filter and the 2017 reaper do.

Paginated DescribeInstances (running, 1000 a page), then one GetMetricStatistics call per
instance per metric (CPUUtilization Average and Maximum in one call, NetworkIn Sum,
NetworkOut Sum; daily over the lookback window). Asking for both CPU statistics in one
call, which custodian's filter (one statistic a filter) would not, flatters the baseline.
Concurrency follows c7n/filters/metrics.py: resources in chunks of 50 on a thread pool of
`max_workers=3`. Custodian runs regions one after another; this baseline runs them
concurrently (3 × 3 threads), which only flatters it.

The verdict and eligibility are the reaper's own (reaper.policy, and reaper.eligibility's
pipeline with the same look-ups: DescribeInstanceAttribute, Spot requests), so the two
scans differ only in how they read CloudWatch and can be checked for the same idle set.
The fleet has no Keeps, so no DynamoDB query is made here.

`python -m bench.baseline` prints JSON like `python -m reaper scan --json` (ids only).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import boto3
from botocore.config import Config

from reaper import eligibility
from reaper.aws.ec2 import Ec2Gateway
from reaper.model import DailyUsage, Instance, VerdictKind
from reaper.policy import judge, window
from reaper.settings import Settings

WORKERS = 3  # c7n MetricsFilter: executor_factory(max_workers=3)
CHUNK = 50  # c7n MetricsFilter: chunks(resources, 50)
# metric → (statistic, DailyUsage field) pairs, one GetMetricStatistics call per metric
METRICS = (
    ("CPUUtilization", (("Average", "cpu_percent"), ("Maximum", "cpu_peak_percent"))),
    ("NetworkIn", (("Sum", "network_in_bytes"),)),
    ("NetworkOut", (("Sum", "network_out_bytes"),)),
)


def _client(service: str, region: str, endpoint: str | None) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=16)
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]


def _instances(ec2: Any, region: str) -> Iterator[Instance]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}], PaginationConfig={"PageSize": 1000}
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                yield Instance(
                    instance_id=raw["InstanceId"], region=region, instance_type=raw.get("InstanceType", ""),
                    launch_time=raw["LaunchTime"], state=raw["State"]["Name"],
                    tags=MappingProxyType({t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}),
                    root_device_type=raw.get("RootDeviceType", "ebs"), lifecycle=raw.get("InstanceLifecycle"),
                    spot_request_id=raw.get("SpotInstanceRequestId"),
                )


def _usage(cw: Any, instance_id: str, start: datetime, end: datetime) -> list[DailyUsage]:
    days: dict[Any, dict[str, float]] = {}
    for name, stats in METRICS:
        response = cw.get_metric_statistics(
            Namespace="AWS/EC2", MetricName=name, Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            StartTime=start, EndTime=end, Period=86400, Statistics=[stat for stat, _ in stats],
        )
        for point in response["Datapoints"]:
            for stat, field in stats:
                days.setdefault(point["Timestamp"].date(), {})[field] = point[stat]
    return [DailyUsage(d, **f) for d, f in sorted(days.items())]


def scan_region(settings: Settings, region: str, now: datetime) -> dict[str, list[str]]:
    ec2 = _client("ec2", region, settings.endpoint_url)
    cw = _client("cloudwatch", region, settings.endpoint_url)
    instances = list(_instances(ec2, region))
    start, end = window(now, settings.policy.lookback_days)

    def chunk(batch: list[Instance]) -> list[tuple[Instance, VerdictKind]]:
        return [(i, judge(_usage(cw, i.instance_id, start, end), settings.policy).kind) for i in batch]

    with ThreadPoolExecutor(WORKERS) as pool:
        chunks = [instances[i : i + CHUNK] for i in range(0, len(instances), CHUNK)]
        judged = [pair for result in pool.map(chunk, chunks) for pair in result]
    idle = [i for i, kind in judged if kind is VerdictKind.IDLE]
    with ThreadPoolExecutor(8) as pool:
        skips = eligibility.assess(idle, Ec2Gateway(ec2, region), run=pool.map)
    proposed = [i.instance_id for i in idle if skips[i.instance_id] is None]
    skipped = [i.instance_id for i in idle if skips[i.instance_id] is not None]
    return {"idle": proposed, "skipped": skipped, "scanned": [i.instance_id for i in instances]}


def main() -> int:
    settings = Settings.from_env(os.environ)
    now = datetime.now(UTC)
    with ThreadPoolExecutor(len(settings.regions)) as pool:
        parts = list(pool.map(lambda r: scan_region(settings, r, now), settings.regions))
    out = {
        "idle": [{"instance_id": i} for p in parts for i in p["idle"]],
        "skipped": [{"instance_id": i} for p in parts for i in p["skipped"]],
        "scanned": sum(len(p["scanned"]) for p in parts),
    }
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
