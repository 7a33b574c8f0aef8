"""CloudWatch gateway: daily CPU and network for many instances with the fewest GetMetricData calls.

Three queries per instance (CPUUtilization Average, NetworkIn Sum, NetworkOut Sum), packed
500 to a call — GetMetricData's limit — across instance boundaries, so n instances cost
ceil(3n / 500) calls plus any NextToken pages AWS hands back. Batches run concurrently.

IAM: cloudwatch:GetMetricData.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from reaper.model import DailyUsage

IAM_ACTIONS = ("cloudwatch:GetMetricData",)

MAX_QUERIES = 500  # GetMetricData's limit per call; moto does not enforce it, AWS does
DAY = 86400

_METRICS = (
    ("CPUUtilization", "Average", "cpu"),
    ("NetworkIn", "Sum", "in"),
    ("NetworkOut", "Sum", "out"),
)


@dataclass(frozen=True)
class _Query:
    instance_id: str
    field: str
    body: dict[str, Any]


class CloudWatchGateway:
    def __init__(self, client: Any, region: str, *, max_workers: int = 8) -> None:
        self._client = client
        self.region = region
        self._max_workers = max_workers

    def daily_usage(
        self, instance_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[DailyUsage]]:
        """Per instance, one DailyUsage per UTC day that has any datapoint, oldest first."""
        queries = [_query(n, instance_id, metric) for n, (instance_id, metric) in enumerate(
            (i, m) for i in instance_ids for m in _METRICS
        )]
        batches = [queries[i : i + MAX_QUERIES] for i in range(0, len(queries), MAX_QUERIES)]
        by_id = {q.body["Id"]: q for q in queries}
        values: dict[str, dict[date, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        workers = max(1, min(self._max_workers, len(batches)))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"cw-{self.region}") as pool:
            for results in pool.map(lambda b: self._fetch(b, start, end), batches):
                for result in results:
                    query = by_id[result["Id"]]
                    for timestamp, value in zip(result["Timestamps"], result["Values"], strict=True):
                        values[query.instance_id][timestamp.date()][query.field] = value
        return {
            instance_id: [
                DailyUsage(day, fields.get("cpu"), fields.get("in"), fields.get("out"))
                for day, fields in sorted(values[instance_id].items())
            ]
            for instance_id in instance_ids
        }

    def _fetch(self, batch: list[_Query], start: datetime, end: datetime) -> list[dict[str, Any]]:
        assert len(batch) <= MAX_QUERIES
        results: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [q.body for q in batch],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            response = self._client.get_metric_data(**kwargs)
            results.extend(response.get("MetricDataResults", []))
            token = response.get("NextToken")
            if not token:
                return results
            kwargs["NextToken"] = token


def _query(n: int, instance_id: str, metric: tuple[str, str, str]) -> _Query:
    name, stat, field = metric
    return _Query(
        instance_id,
        field,
        {
            "Id": f"m{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": name,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                },
                "Period": DAY,
                "Stat": stat,
            },
            "ReturnData": True,
        },
    )
