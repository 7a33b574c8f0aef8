"""An index per metric series for moto's CloudWatch, so the benchmark can read 10 000 instances.

moto's `get_metric_data` and `get_metric_statistics` filter every stored datapoint for
every query and every period: a 500-query call over 420 000 datapoints is ~10^9 steps.
This module keeps datapoints in a dict keyed by (namespace, metric name, dimensions),
each series sorted by time, and answers both operations from it with moto's own
statistics code (`Statistics`, `daterange`), so the answers are moto's;
bench/check_index.py compares both on a small irregular dataset, query by query.

Scope, on purpose: GetMetricData `MetricStat` queries (math and Metrics Insights
expressions are refused), GetMetricStatistics, PutMetricData (through moto's own parser).
Differences from moto, none of which the benchmark's queries reach: a `MetricStat` must
match the namespace too (AWS does; moto ignores it when dimensions are given), and the
built-in S3 storage metrics moto synthesises are not served, and a `Unit` in a query
filters (moto drops it when dimensions are given). Only the benchmark's
emulator installs this; the reaper never sees it.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, SupportsFloat

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    Statistics,
    daterange,
)

DimsKey = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, str, DimsKey]
# A stored datapoint: (timestamp, value or (min, max, sample count, sum), unit)
Point = tuple[datetime, Any, str | None]

MOTO_PUT_METRIC_DATA = CloudWatchBackend.put_metric_data
MOTO_GET_METRIC_DATA = CloudWatchBackend.get_metric_data
MOTO_GET_METRIC_STATISTICS = CloudWatchBackend.get_metric_statistics


class MetricIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, list[Point]] = {}
        self._times: dict[SeriesKey, list[datetime]] = {}
        self._unsorted: set[SeriesKey] = set()
        self._by_name: dict[tuple[str, str], set[DimsKey]] = defaultdict(set)
        self._by_dimension: dict[tuple[str, str, str, str], set[DimsKey]] = defaultdict(set)

    def add(self, namespace: str, name: str, dims: DimsKey, point: Point) -> None:
        key = (namespace, name, dims)
        point = (naive_utc(point[0]), point[1], point[2])
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = []
                self._by_name[namespace, name].add(dims)
                for d_name, d_value in dims:
                    self._by_dimension[namespace, name, d_name, d_value].add(dims)
            if series and point[0] < series[-1][0]:
                self._unsorted.add(key)
            series.append(point)
            self._times.pop(key, None)

    def add_datum(self, datum: MetricDatumBase) -> None:
        dims = dims_key((d.name or "", d.value or "") for d in datum.dimensions)
        if isinstance(datum, MetricAggregatedDatum):
            value: Any = (datum.min, datum.max, datum.sample_count, datum.sum)
        else:
            assert isinstance(datum, MetricDatum)
            value = datum.value
        self.add(datum.namespace, datum.name, dims, (datum.timestamp, value, datum.unit))

    def points(self, key: SeriesKey, start: datetime, end: datetime) -> list[Point]:
        """The series' points with start <= timestamp < end, in time order (stable)."""
        start, end = naive_utc(start), naive_utc(end)
        with self._lock:
            series = self._series.get(key)
            if not series:
                return []
            if key in self._unsorted:
                series.sort(key=lambda p: p[0])  # stable, like moto's sorted()
                self._unsorted.discard(key)
            times = self._times.get(key)
            if times is None:
                times = self._times[key] = [p[0] for p in series]
            return series[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]

    def exact(self, namespace: str, name: str, dims: DimsKey) -> list[SeriesKey]:
        """GetMetricData: the one series with exactly these dimensions, or all of them when none given."""
        if dims:
            return [(namespace, name, dims)]
        with self._lock:
            return [(namespace, name, d) for d in sorted(self._by_name.get((namespace, name), ()))]

    def containing(self, namespace: str, name: str, dims: Sequence[tuple[str, str | None]]) -> list[SeriesKey]:
        """GetMetricStatistics: every series whose dimensions include these (a None value matches any)."""
        with self._lock:
            found = set(self._by_name.get((namespace, name), ()))
            for d_name, d_value in dims:
                if d_value is None:
                    found = {k for k in found if any(n == d_name for n, _ in k)}
                else:
                    found &= self._by_dimension.get((namespace, name, d_name, d_value), set())
            return [(namespace, name, d) for d in sorted(found)]


def naive_utc(at: datetime) -> datetime:
    """moto keeps the timestamps it parses from requests naive (UTC); keep every one that way."""
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def dims_key(pairs: Any) -> DimsKey:
    return tuple(sorted((str(n), str(v)) for n, v in pairs))


def index_of(backend: CloudWatchBackend) -> MetricIndex:
    index = backend.__dict__.get("_bench_index")
    if index is None:
        index = backend.__dict__.setdefault("_bench_index", MetricIndex())
    return index  # type: ignore[no-any-return]


def _datums(key: SeriesKey, points: Sequence[Point]) -> list[MetricDatumBase]:
    """moto's own datum objects for a few points, so moto's Statistics computes the answer."""
    namespace, name, dims = key
    dimensions = [{"Name": n, "Value": v} for n, v in dims]
    out: list[MetricDatumBase] = []
    for timestamp, value, unit in points:
        if isinstance(value, tuple):
            lo, hi, count, total = value
            out.append(MetricAggregatedDatum(namespace, name, lo, hi, count, total, dimensions, timestamp, unit))
        else:
            out.append(MetricDatum(namespace, name, value, dimensions, timestamp, unit))
    return out


def put_metric_data(self: CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """moto parses and validates; the datapoints go to the index instead of moto's flat list."""
    index = index_of(self)
    parsed: list[MetricDatumBase] = []
    # moto's put_metric_data only appends to .metric_data after validating: hand it a list of our own.
    holder: Any = SimpleNamespace(
        metric_data=parsed, _validate_parameters_put_metric_data=self._validate_parameters_put_metric_data
    )
    MOTO_PUT_METRIC_DATA(holder, namespace, metric_data)
    for datum in parsed:
        index.add_datum(datum)


def get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    start_time = naive_utc(start_time).replace(microsecond=0)
    end_time = naive_utc(end_time).replace(microsecond=0)
    if start_time > end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start_time == end_time:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
    if any("MetricStat" not in q for q in queries):
        raise NotImplementedError("the benchmark's CloudWatch index serves MetricStat queries only")
    index = index_of(self)
    results = []
    for query in queries:
        stat_spec = query["MetricStat"]
        metric = stat_spec["Metric"]
        dims = dims_key((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
        delta = timedelta(seconds=int(stat_spec["Period"]))
        unit = stat_spec.get("Unit")
        stat = stat_spec["Stat"]
        buckets: dict[int, list[MetricDatumBase]] = defaultdict(list)
        for key in index.exact(metric["Namespace"], metric["MetricName"], dims):
            points = [p for p in index.points(key, start_time, end_time) if not unit or p[2] == unit]
            for point, datum in zip(points, _datums(key, points), strict=True):
                buckets[(point[0] - start_time) // delta].append(datum)
        values: list[SupportsFloat] = []
        timestamps: list[datetime] = []
        for n in sorted(buckets):
            stats = Statistics([stat], start_time + n * delta)
            stats.metric_data = buckets[n]
            values.append(stats.get_statistics_for_type(stat))  # type: ignore[arg-type]
            timestamps.append(stats.timestamp)
        if scan_by == "TimestampDescending":
            values.reverse()
            timestamps.reverse()
        if query.get("ReturnData", True):
            results.append({
                "id": query["Id"],
                "label": query.get("Label") or f"{metric['MetricName']} {stat}",
                "values": values,
                "timestamps": timestamps,
                "status_code": "Complete",
            })
    return results


def get_metric_statistics(
    self: CloudWatchBackend,
    namespace: str,
    metric_name: str,
    start_time: datetime,
    end_time: datetime,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
) -> list[Statistics]:
    start_time = naive_utc(start_time).replace(microsecond=0)
    end_time = naive_utc(end_time).replace(microsecond=0)
    if start_time >= end_time:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    index = index_of(self)
    wanted = [(d["Name"], d.get("Value")) for d in dimensions or []]
    data: list[MetricDatumBase] = []
    for key in index.containing(namespace, metric_name, wanted):
        points = [p for p in index.points(key, start_time, end_time) if not unit or p[2] == unit]
        data.extend(_datums(key, points))
    data.sort(key=lambda d: d.timestamp)
    if not data:
        return []
    delta = timedelta(seconds=period)
    out: list[Statistics] = []
    i = 0
    for dt in daterange(data[0].timestamp, data[-1].timestamp + delta, delta):
        s = Statistics(stats, dt)
        while i < len(data) and data[i].timestamp < dt + delta:
            s.metric_data.append(data[i])
            s.unit = data[i].unit
            i += 1
        if s.metric_data:
            out.append(s)
    return out


def install() -> None:
    """Serve moto's CloudWatch metric reads from the index (this process only)."""
    setattr(CloudWatchBackend, "put_metric_data", put_metric_data)  # noqa: B010 (a monkeypatch, said plainly)
    setattr(CloudWatchBackend, "get_metric_data", get_metric_data)  # noqa: B010 (a monkeypatch, said plainly)
    setattr(CloudWatchBackend, "get_metric_statistics", get_metric_statistics)  # noqa: B010 (a monkeypatch, said plainly)
