"""A demo fleet with daily CloudWatch metrics: one instance for every case the reaper tells apart."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from reaper.model import MB

# The fleet constants the tests and the benchmark share (bench/fleet.py, tests/): one home, here.
AMI = "ami-12c6146b"  # one of moto's built-in images


@dataclass(frozen=True)
class Machine:
    """An instance to launch and the daily metrics it reports (None: no datapoint that day).

    `cpu` is each day's average; `cpu_peak`, when given, each day's highest one-minute
    sample (a nightly job: a low average, a peak near 100 %). Without it a day's peak
    equals its average.
    """

    name: str
    region: str
    cpu: Sequence[float | None]
    network_mb: Sequence[float | None]
    instance_type: str = "t3.medium"
    owner: str = "platform"
    tags: dict[str, str] = field(default_factory=dict)
    spot: bool = False
    stop_protected: bool = False
    cpu_peak: Sequence[float | None] | None = None
    hibernation: bool = False  # launched with HibernationOptions.Configured (a stop hibernates it)


def _days(value: float, n: int = 14, jitter: float = 0.0, seed: int = 0) -> list[float | None]:
    rnd = random.Random(seed)
    return [max(0.0, value + rnd.uniform(-jitter, jitter)) for _ in range(n)]


# One hour at 100 % and 23 hours at 0.2 %: a 4.36 % daily average, under REAPER_CPU_PERCENT.
NIGHTLY_AVERAGE = (60 * 100.0 + 1380 * 0.2) / 1440


def demo_fleet(regions: Sequence[str]) -> list[Machine]:
    home, other = regions[0], regions[-1]
    spiky = _days(1.2, jitter=0.5, seed=3)
    spiky[9] = 63.0
    return [
        # Idle, with the spikes an idle Linux box shows (package lists, agents, cron): under the peak threshold.
        Machine("dev-alice-sandbox", home, _days(0.8, jitter=0.3, seed=1), _days(0.6, jitter=0.2, seed=1),
                "t3.large", "alice", cpu_peak=_days(9.0, jitter=8.0, seed=14)),
        Machine("staging-reports", home, _days(2.5, jitter=1.0, seed=2), _days(3.0, jitter=1.0, seed=2),
                "m5.xlarge", "bob", cpu_peak=_days(12.0, jitter=6.0, seed=15)),
        Machine("api-prod", home, _days(41.0, jitter=12.0, seed=4), _days(900.0, jitter=200.0, seed=4),
                "c6i.2xlarge", "payments"),
        Machine("month-end-close", home, spiky, _days(1.0, jitter=0.5, seed=3), "r6i.large", "data"),
        # Idle by its daily average, busy by its peak: an hour at full CPU every night.
        Machine("nightly-batch", home, [NIGHTLY_AVERAGE] * 14, _days(1.5, jitter=0.5, seed=16), "c6i.large",
                "data", cpu_peak=[100.0] * 14),
        Machine("bulk-transfer", home, _days(1.0, jitter=0.3, seed=5), _days(2400.0, jitter=300.0, seed=5),
                "m6i.large", "data"),
        Machine("fresh-experiment", home, [None] * 12 + _days(0.5, n=2, seed=6),
                [None] * 12 + _days(0.2, n=2, seed=6), "g5.xlarge", "carol"),
        Machine("silent-agent", home, [None] * 14, [None] * 14, "t3.small", "dave"),
        Machine("license-server", home, _days(0.3, seed=7), _days(0.1, seed=7), "t3.micro", "it",
                tags={"reaper:exempt": "license server, must stay up"}),
        Machine("web-asg-node", home, _days(0.9, jitter=0.2, seed=8), _days(1.0, seed=8), "t3.medium", "web",
                tags={"aws:autoscaling:groupName": "web-asg"}),
        # An EBS root, but local NVMe disks (m5d) that a stop would erase: never offered.
        Machine("build-cache-nvme", home, _days(0.4, jitter=0.2, seed=17), _days(0.3, seed=17), "m5d.large", "ci"),
        Machine("ml-spot-runner", other, _days(0.4, seed=9), _days(0.2, seed=9), "p3.2xlarge", "ml", spot=True),
        Machine("ledger-db-replica", other, _days(1.5, jitter=0.5, seed=10), _days(1.2, seed=10),
                "r5.2xlarge", "finance", stop_protected=True),
        Machine("analytics-notebook", other, _days(0.6, jitter=0.4, seed=11), _days(0.9, jitter=0.3, seed=11),
                "m5.2xlarge", "erin"),
        Machine("eks-worker", other, _days(0.7, seed=12), _days(0.5, seed=12), "m5.large", "k8s",
                tags={"eks:cluster-name": "main", "eks:nodegroup-name": "default"}),
        # The tags EMR writes on its nodes: stopping one would break the cluster.
        Machine("emr-core-node", other, _days(0.5, jitter=0.2, seed=18), _days(0.4, seed=18), "m5.xlarge", "data",
                tags={"aws:elasticmapreduce:job-flow-id": "j-2AXXXXXXGAPLF",
                      "aws:elasticmapreduce:instance-group-role": "CORE"}),
        Machine("search-cluster", other, _days(22.0, jitter=8.0, seed=13), _days(350.0, jitter=50.0, seed=13),
                "r6g.xlarge", "search"),
    ]


def launch(clients: Any, machines: Sequence[Machine], now: datetime | None = None) -> dict[str, str]:
    """Launch each machine and publish its metrics; returns name → instance id.

    `clients(service, region)` returns a boto3 client. Each daily value is written as one
    datapoint at noon UTC of that day, the last one yesterday.
    """
    now = now or datetime.now(UTC)
    today = datetime.combine(now.date(), time(0), tzinfo=UTC)
    ids: dict[str, str] = {}
    for m in machines:
        ec2 = clients("ec2", m.region)
        tags = {"Name": m.name, "Owner": m.owner, **m.tags}
        kwargs: dict[str, Any] = {
            "ImageId": AMI,
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": m.instance_type,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        }
        if m.spot:
            kwargs["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}}
        if m.stop_protected:
            kwargs["DisableApiStop"] = True
        if m.hibernation:
            kwargs["HibernationOptions"] = {"Configured": True}
        instance_id = ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
        ids[m.name] = instance_id
        put_daily_metrics(clients("cloudwatch", m.region), instance_id, m.cpu, m.network_mb, today, m.cpu_peak)
    return ids


def put_daily_metrics(
    cloudwatch: Any,
    instance_id: str,
    cpu: Sequence[float | None],
    network_mb: Sequence[float | None],
    today: datetime,
    cpu_peak: Sequence[float | None] | None = None,
) -> None:
    """One datapoint per metric per day; day i of n is (n - i) days before `today`.

    A day whose peak differs from its average is written as one statistic set, as EC2
    itself publishes CPUUtilization (basic monitoring: a set of five one-minute samples
    every five minutes): SampleCount and Sum give the average, Maximum the peak.
    """
    data: list[dict[str, Any]] = []
    dims = [{"Name": "InstanceId", "Value": instance_id}]
    n = len(cpu)
    peaks = [None] * n if cpu_peak is None else list(cpu_peak)
    if len(peaks) != n:
        raise ValueError(f"{instance_id}: {len(peaks)} daily peaks for {n} days of CPU")
    for i, (c, peak, net) in enumerate(zip(cpu, peaks, network_mb, strict=True)):
        at = today - timedelta(days=n - i) + timedelta(hours=12)
        if c is not None:
            data.append({"MetricName": "CPUUtilization", "Dimensions": dims, "Timestamp": at, "Unit": "Percent",
                         **_cpu_value(c, peak)})
        if net is not None:
            data.append({"MetricName": "NetworkIn", "Dimensions": dims, "Timestamp": at,
                         "Value": net * MB * 0.6, "Unit": "Bytes"})
            data.append({"MetricName": "NetworkOut", "Dimensions": dims, "Timestamp": at,
                         "Value": net * MB * 0.4, "Unit": "Bytes"})
    for i in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[i : i + 1000])


SAMPLES_A_DAY = 1440  # one-minute samples: what EC2's 288 five-minute sets of 5 add up to


def _cpu_value(average: float, peak: float | None) -> dict[str, Any]:
    if peak is None or peak == average:
        return {"Value": average}
    if peak < average:
        raise ValueError(f"a day's CPU peak ({peak}) cannot be below its average ({average})")
    return {"StatisticValues": {"SampleCount": SAMPLES_A_DAY, "Sum": average * SAMPLES_A_DAY,
                                "Minimum": 0.0, "Maximum": peak}}
