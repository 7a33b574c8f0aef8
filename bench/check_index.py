"""Check that the CloudWatch index answers like moto: both fed the same datapoints, every query compared."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.core.models import DEFAULT_ACCOUNT_ID as ACCOUNT

from bench import cwindex

STATS = ("Average", "Sum", "Maximum", "Minimum", "SampleCount")


def _dataset(rnd: random.Random, start: datetime) -> list[dict[str, Any]]:
    """Irregular on purpose: 0-3 points a day at random times, gaps, pre-aggregated sets, two dimension sets."""
    data: list[dict[str, Any]] = []
    for i in range(12):
        dims = [{"Name": "InstanceId", "Value": f"i-{i:017x}"}]
        if i % 4 == 3:
            dims = [*dims, {"Name": "AutoScalingGroupName", "Value": "asg"}]
        for name in ("CPUUtilization", "NetworkIn", "NetworkOut"):
            for day in range(20):
                for _ in range(rnd.choice((0, 1, 1, 1, 2, 3))):
                    at = start + timedelta(days=day, seconds=rnd.randrange(86400))
                    if rnd.random() < 0.2:
                        lo, hi = sorted((rnd.uniform(0, 100), rnd.uniform(0, 100)))
                        n = rnd.randrange(1, 60)
                        stat = {"Minimum": lo, "Maximum": hi, "SampleCount": n, "Sum": n * (lo + hi) / 2}
                        data.append({"MetricName": name, "Dimensions": dims, "Timestamp": at,
                                     "StatisticValues": stat})
                    else:
                        data.append({"MetricName": name, "Dimensions": dims, "Timestamp": at,
                                     "Value": rnd.uniform(0, 1e6)})
    rnd.shuffle(data)
    return data


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-12)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _stat_rows(stats: list[Any], wanted: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(s.timestamp, s.unit, *(s.get_statistics_for_type(w) for w in wanted)) for s in stats]


def check(seed: int = 7) -> int:
    """Raise AssertionError on the first difference; return how many queries agreed."""
    rnd = random.Random(seed)
    start = datetime(2026, 11, 1)  # naive UTC, as moto parses request timestamps
    moto_backend = CloudWatchBackend("us-east-1", ACCOUNT)
    indexed = CloudWatchBackend("us-east-1", ACCOUNT)
    data = _dataset(rnd, start)
    for i in range(0, len(data), 1000):
        cwindex.MOTO_PUT_METRIC_DATA(moto_backend, "AWS/EC2", data[i : i + 1000])
        cwindex.put_metric_data(indexed, "AWS/EC2", data[i : i + 1000])
    series = sorted({(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])) for d in data})
    compared = 0
    windows = [
        (start, start + timedelta(days=14)),
        (start + timedelta(hours=7, seconds=13), start + timedelta(days=20)),
    ]
    for begin, end in windows:
        for period in (86400, 3600):
            for scan_by in ("TimestampAscending", "TimestampDescending"):
                queries = [
                    {"Id": f"q{n}", "ReturnData": n % 7 != 0, "MetricStat": {
                        "Metric": {"Namespace": "AWS/EC2", "MetricName": name,
                                   "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
                        "Period": period, "Stat": STATS[n % len(STATS)]}}
                    for n, (name, dims) in enumerate(series)
                ]
                want = cwindex.MOTO_GET_METRIC_DATA(moto_backend, queries, begin, end, scan_by)
                got = cwindex.get_metric_data(indexed, queries, begin, end, scan_by)
                assert _same(want, got), f"GetMetricData differs (period {period}, {scan_by})"
                compared += len(queries)
            for name, dims in series:
                for subset in (list(dims), list(dims[:1])):
                    dimensions = [{"Name": k, "Value": v} for k, v in subset]
                    args = ("AWS/EC2", name, begin, end, period, list(STATS), dimensions)
                    want_s = cwindex.MOTO_GET_METRIC_STATISTICS(moto_backend, *args)
                    got_s = cwindex.get_metric_statistics(indexed, *args)
                    assert _same(_stat_rows(want_s, STATS), _stat_rows(got_s, STATS)), (
                        f"GetMetricStatistics differs for {name} {subset} period {period}"
                    )
                    compared += 1
    return compared


if __name__ == "__main__":
    print(f"CloudWatch index agrees with moto on {check()} queries")
