"""A synthetic fleet of N running instances over several regions, with 14 days of daily metrics.

Mix (of every region's instances): 86 % busy, 1 % busy on one day only, 1 % running a
nightly job (an hour at 100 %: idle by its daily average, busy by its peak), 2 % too new
to judge (2 days of data), 1 % reporting nothing, and 9 % idle — of which two thirds
are plain idle (proposed for stopping) and the rest exempt, Auto Scaling, EKS,
stop-protected or one-time Spot, so every per-candidate look-up is exercised. Every
quiet day peaks at 2-18 %, the size of an idle box's housekeeping. The Spot
instances come from real one-time Spot requests; moto neither links an instance to its
request nor returns SpotInstanceRequestId, so the link is set here, as AWS would report it.

Instances are launched through the emulator's API in batches (MinCount = MaxCount ≤ 1000),
then each batch's reservation is split into one reservation per instance, in-process:
moto's DescribeInstances pages count reservations, AWS's count instances, and a fleet
launched over months has about one instance per reservation. Metrics are written
straight into the CloudWatch index (bench.cwindex) in this process, 42 datapoints per
instance, rather than through 420 PutMetricData calls at N = 10 000: the scan only reads.
A day's CPU is one statistic set (Sum/SampleCount: the average; Maximum: the peak), as
EC2 publishes it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.models import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Reservation
from moto.ec2.utils import random_reservation_id

from bench.cwindex import index_of
from demo.fleet import AMI, SAMPLES_A_DAY
from reaper.model import MB

DAYS = 14

# profile → (share of the fleet, tags, run_instances extras)
PROFILES: dict[str, tuple[float, dict[str, str], dict[str, Any]]] = {
    "busy": (0.86, {}, {}),
    "spiky": (0.01, {}, {}),
    "nightly": (0.01, {}, {}),
    "new": (0.02, {}, {}),
    "silent": (0.01, {}, {}),
    "idle": (0.06, {}, {}),
    "exempt": (0.01, {"reaper:exempt": "benchmark says so"}, {}),
    "asg": (0.005, {"aws:autoscaling:groupName": "bench-asg"}, {}),
    "eks": (0.005, {"eks:cluster-name": "bench"}, {}),
    "protected": (0.005, {}, {"DisableApiStop": True}),
    "spot": (0.005, {}, {}),  # launched by _spot_requests
}
IDLE_PROFILES = ("idle", "exempt", "asg", "eks", "protected", "spot")


@dataclass(frozen=True)
class Fleet:
    regions: tuple[str, ...]
    by_region: dict[str, int]
    profiles: dict[str, str]  # instance id → profile

    @property
    def idle(self) -> set[str]:
        """Instances the idle policy must call idle (proposed or not)."""
        return {i for i, p in self.profiles.items() if p in IDLE_PROFILES}

    @property
    def proposed(self) -> set[str]:
        return {i for i, p in self.profiles.items() if p == "idle"}

    def mix(self) -> dict[str, int]:
        return dict(Counter(self.profiles.values()))


IDLE_SHARE = sum(PROFILES[p][0] for p in IDLE_PROFILES)  # 9 %


def _counts(n: int, idle_share: float = IDLE_SHARE) -> dict[str, int]:
    """Instances per profile; `idle_share` scales the idle profiles (in their proportions), busy takes the rest."""
    scale = idle_share / IDLE_SHARE
    counts = {p: int(n * share * (scale if p in IDLE_PROFILES else 1.0)) for p, (share, _, _) in PROFILES.items()}
    counts["busy"] += n - sum(counts.values())
    return counts


def seed(client: Callable[[str, str], Any], regions: tuple[str, ...], n: int, seed_: int = 1,
         idle_share: float = IDLE_SHARE, account: str = ACCOUNT) -> Fleet:
    """N instances over `regions` of `account` (a member account's: `client` must be on its credentials)."""
    rnd = random.Random(seed_)
    today = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    days = [today - timedelta(days=DAYS - d) + timedelta(hours=12) for d in range(DAYS)]
    profiles: dict[str, str] = {}
    by_region = {r: n // len(regions) + (1 if k < n % len(regions) else 0) for k, r in enumerate(regions)}
    for region, count in by_region.items():
        ec2 = client("ec2", region)
        index = index_of(cloudwatch_backends[account][region])
        for profile, wanted in _counts(count, idle_share).items():
            _, extra_tags, extras = PROFILES[profile]
            while wanted > 0:
                batch = min(wanted, 1000)
                wanted -= batch
                tags = {"Name": f"bench-{profile}", "Owner": f"team-{rnd.randrange(20)}", **extra_tags}
                tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
                if profile == "spot":
                    ids = _spot_requests(ec2, ec2_backends[account][region], batch, tag_list)
                else:
                    response = ec2.run_instances(
                        ImageId=AMI, MinCount=batch, MaxCount=batch, InstanceType="t3.medium",
                        TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list}], **extras,
                    )
                    ids = [raw["InstanceId"] for raw in response["Instances"]]
                for instance_id in ids:
                    profiles[instance_id] = profile
                    _metrics(index, instance_id, profile, days, rnd)
        _one_reservation_per_instance(ec2_backends[account][region])
    return Fleet(regions, by_region, profiles)


def _spot_requests(ec2: Any, backend: Any, count: int, tags: list[dict[str, str]]) -> list[str]:
    response = ec2.request_spot_instances(
        InstanceCount=count, Type="one-time", LaunchSpecification={"ImageId": AMI, "InstanceType": "t3.medium"}
    )
    requests = {r["SpotInstanceRequestId"] for r in response["SpotInstanceRequests"]}
    ids = []
    for request in backend.spot_instance_requests.values():
        if request.id in requests:
            request.instance.spot_instance_request_id = request.id  # rendered by moto's DescribeInstances
            ids.append(request.instance.id)
    ec2.create_tags(Resources=ids, Tags=tags)
    return ids


def _metrics(index: Any, instance_id: str, profile: str, days: list[datetime], rnd: random.Random) -> None:
    dims = (("InstanceId", instance_id),)
    if profile == "silent":
        return
    busy = profile == "busy"
    spike = rnd.randrange(DAYS) if profile == "spiky" else -1
    for d, at in enumerate(days):
        if profile == "new" and d < DAYS - 2:
            continue
        if busy or d == spike:
            cpu, peak = rnd.uniform(10.0, 70.0), rnd.uniform(80.0, 100.0)
        elif profile == "nightly":
            cpu, peak = rnd.uniform(3.0, 4.5), 100.0
        else:
            cpu, peak = rnd.uniform(0.1, 3.0), rnd.uniform(3.0, 18.0)
        net = rnd.uniform(50.0, 2000.0) if busy else rnd.uniform(0.1, 3.0)
        cpu_set = (0.0, peak, SAMPLES_A_DAY, cpu * SAMPLES_A_DAY)  # (min, max, sample count, sum), as cwindex keeps it
        index.add("AWS/EC2", "CPUUtilization", dims, (at, cpu_set, "Percent"))
        index.add("AWS/EC2", "NetworkIn", dims, (at, net * MB * 0.6, "Bytes"))
        index.add("AWS/EC2", "NetworkOut", dims, (at, net * MB * 0.4, "Bytes"))


def _one_reservation_per_instance(backend: Any) -> None:
    for reservation in list(backend.reservations.values()):
        for instance in reservation.instances[1:]:
            single = Reservation(random_reservation_id(), reservation.owner_id)
            single.groups = reservation.groups
            single.instances = [instance]
            backend.reservations[single.id] = single
        reservation.instances = reservation.instances[:1]
