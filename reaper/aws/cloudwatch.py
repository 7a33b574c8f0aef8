"""CloudWatch gateway: daily CPU and network for many instances with the fewest GetMetricData calls.

Four queries per instance (CPUUtilization Average and Maximum, NetworkIn Sum, NetworkOut
Sum), packed 500 to a call — GetMetricData's limit — across instance boundaries, so n
instances cost ceil(4n / 500) calls plus any NextToken pages AWS hands back. Batches run
concurrently. At the longest lookback the settings allow (32 days) a full call asks for
500 × 32 = 16 000 daily datapoints, well under GetMetricData's 100 800 a call.

A click's re-check reads one instance since its report with `usage_since`: the same four
queries at the same daily period, from the midnight the report was posted on up to now, in
one call (at most 31 days × 4 = 124 datapoints); the last day is partial.

A query whose last page is not `Complete` (InternalError, Forbidden, PartialData without a
NextToken) fails the batch after one retry: a network query that came back empty would
otherwise read as a day without traffic.

IAM: cloudwatch:GetMetricData.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, date, datetime, time
from typing import Any

from reaper.aws.clients import translated
from reaper.errors import MetricsIncomplete
from reaper.model import DailyUsage

IAM_ACTIONS = ("cloudwatch:GetMetricData",)

MAX_QUERIES = 500  # GetMetricData's limit per call; moto does not enforce it, AWS does
DAY = 86400

# In DailyUsage's field order: cpu_percent, cpu_peak_percent, network_in_bytes, network_out_bytes.
_METRICS = (
    ("CPUUtilization", "Average"),
    ("CPUUtilization", "Maximum"),
    ("NetworkIn", "Sum"),
    ("NetworkOut", "Sum"),
)
QUERIES_PER_INSTANCE = len(_METRICS)


class CloudWatchGateway:
    """reaper.ports.Metrics on a boto3 CloudWatch client of that region."""

    def __init__(self, client: Any, region: str, *, max_workers: int = 8) -> None:
        self._client = client
        self.region = region
        self._max_workers = max_workers

    def daily_usage(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, *, executor: Executor | None = None
    ) -> dict[str, list[DailyUsage]]:
        """Per instance, one DailyUsage per UTC day that has any datapoint, oldest first.

        Batches run on `executor` when given (a scan shares one across regions), else on a
        pool of this gateway's own.
        """
        ids = list(instance_ids)
        total = len(ids) * len(_METRICS)  # query k reads metric k % 4 of instance k // 4
        batches = [range(k, min(k + MAX_QUERIES, total)) for k in range(0, total, MAX_QUERIES)]
        days: list[dict[date, list[float | None]]] = [{} for _ in ids]
        with contextlib.ExitStack() as stack:
            if executor is None:
                workers = max(1, min(self._max_workers, len(batches)))
                executor = stack.enter_context(ThreadPoolExecutor(workers, thread_name_prefix=f"cw-{self.region}"))
            for results in executor.map(lambda b: self._fetch([_query(k, ids) for k in b], start, end), batches):
                _collect(results, days)
        return {instance_id: _usage(days[n]) for n, instance_id in enumerate(ids)}

    def usage_since(self, instance_id: str, start: datetime, end: datetime) -> list[DailyUsage]:
        """One instance's days from the midnight (UTC) `start` falls on up to `end`, in one call.

        Daily periods starting at midnight keep a day's peak and average exact, as the scan
        reads them; the period that holds `end` covers only the hours up to it.
        """
        since = datetime.combine(start.astimezone(UTC).date(), time(0), tzinfo=UTC)
        days: list[dict[date, list[float | None]]] = [{}]
        queries = [_query(k, [instance_id]) for k in range(len(_METRICS))]
        _collect(self._fetch(queries, since, end, "the instance is not judged on partial data"), days)
        return _usage(days[0])

    def _fetch(
        self, batch: list[dict[str, Any]], start: datetime, end: datetime,
        consequence: str = "the region is not judged on partial data",
    ) -> list[dict[str, Any]]:
        """Every page of one batch; once more if a query ended in CloudWatch's InternalError."""
        results = self._pages(batch, start, end)
        unfinished = _unfinished(results)
        if unfinished and set(unfinished.values()) == {"InternalError"}:
            results = self._pages(batch, start, end)  # AWS: "Retry your request"
            unfinished = _unfinished(results)
        if unfinished:
            statuses = ", ".join(sorted(set(unfinished.values())))
            raise MetricsIncomplete(
                f"CloudWatch GetMetricData returned {statuses} for {len(unfinished)} of {len(batch)} queries "
                f"in {self.region}; {consequence}"
            )
        return results

    def _pages(self, batch: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
        assert len(batch) <= MAX_QUERIES
        results: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "MetricDataQueries": batch,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            with translated("GetMetricData"):
                response = self._client.get_metric_data(**kwargs)
            results.extend(response.get("MetricDataResults", []))
            token = response.get("NextToken")
            if not token:
                return results
            kwargs["NextToken"] = token


def _collect(results: list[dict[str, Any]], days: list[dict[date, list[float | None]]]) -> None:
    """File each result's values under its instance (query id // 4), day and metric (query id % 4)."""
    for result in results:
        n, metric = divmod(int(result["Id"][1:]), len(_METRICS))
        per_day = days[n]
        timestamps, values = result.get("Timestamps") or [], result.get("Values") or []
        if len(timestamps) != len(values):
            raise MetricsIncomplete(f"CloudWatch returned {len(timestamps)} timestamps "
                                    f"and {len(values)} values for one query")
        for timestamp, value in zip(timestamps, values, strict=True):
            per_day.setdefault(timestamp.date(), [None] * len(_METRICS))[metric] = value


def _usage(per_day: dict[date, list[float | None]]) -> list[DailyUsage]:
    return [DailyUsage(day, *values) for day, values in sorted(per_day.items())]


def _unfinished(results: list[dict[str, Any]]) -> dict[str, str]:
    """Query id → status, for queries whose last result is not Complete (no status: Complete)."""
    last = {r["Id"]: str(r.get("StatusCode") or "Complete") for r in results}
    return {query: status for query, status in last.items() if status != "Complete"}


def _query(k: int, instance_ids: Sequence[str]) -> dict[str, Any]:
    name, stat = _METRICS[k % len(_METRICS)]
    return {
        "Id": f"m{k}",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": name,
                "Dimensions": [{"Name": "InstanceId", "Value": instance_ids[k // len(_METRICS)]}],
            },
            "Period": DAY,
            "Stat": stat,
        },
        "ReturnData": True,
    }
