"""Look-ups once, not daily (issue 20), against moto over HTTP: the second scan of an unchanged fleet
asks EC2 for no stop protection, Spot request type or instance type, and reads its memory in one call."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest
from moto.ec2.models import ec2_backends

from demo.emulator import Emulator
from demo.fleet import AMI, put_daily_metrics
from reaper.aws.cache import DynamoCache
from reaper.aws.ec2 import Ec2Gateway
from reaper.model import SkipReason
from reaper.ports import Services
from reaper.scan import find_idle
from tests.aws import HOME, OTHER, AwsEnv
from tests.calls import CallLog
from tests.integration.conftest import Seed, busy, quiet

LOOK_UPS = ("DescribeInstanceAttribute", "DescribeSpotInstanceRequests", "DescribeInstanceTypes")


def counted(aws: AwsEnv, log: CallLog) -> Services:
    """Services as a new process would build them (nothing remembered in memory), whose EC2 and
    cache clients report every call to `log`."""
    services = aws.services(ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))
    assert isinstance(services.cache, DynamoCache)
    log.attach(services.cache.client)
    return services


def one_time_spot(aws: AwsEnv) -> str:
    """An idle instance of a one-time Spot request, linked to it as AWS reports it (moto leaves
    SpotInstanceRequestId out: the link is set in its backend, in this process, as bench.fleet does)."""
    ec2 = aws.client("ec2")
    (request,) = ec2.request_spot_instances(
        InstanceCount=1, Type="one-time", LaunchSpecification={"ImageId": AMI, "InstanceType": "t3.micro"},
    )["SpotInstanceRequests"]
    backend: Any = ec2_backends["123456789012"][HOME]
    spot = backend.spot_instance_requests[request["SpotInstanceRequestId"]]
    spot.instance.spot_instance_request_id = spot.id
    today = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    put_daily_metrics(aws.client("cloudwatch"), spot.instance.id, [0.5] * 14, [0.5] * 14, today)
    return str(spot.instance.id)


def cache_reads(log: CallLog, prefix: str) -> int:
    """BatchGetItem calls that asked for keys of this cache prefix."""
    return sum(1 for params in log.params.get("BatchGetItem", [])
               if any(key["id"]["S"].startswith("cache#" + prefix)
                      for table in params["RequestItems"].values() for key in table["Keys"]))


def test_the_second_scan_makes_no_look_up_and_one_cache_read(
    services: Services, seed: Seed, aws: AwsEnv, aws_endpoint: tuple[str, Emulator | None]
) -> None:
    if aws_endpoint[1] is None:
        pytest.skip("links a Spot request in moto's backend: needs the in-process emulator")
    spot = one_time_spot(aws)
    ids = seed([
        quiet("plain"), quiet("protected", stop_protected=True), quiet("spot", spot=True),
        quiet("local-disks", instance_type="m5d.large"), quiet("far", OTHER), busy("busy"),
    ])
    first_log, second_log = CallLog(), CallLog()

    first = find_idle(counted(aws, first_log))
    second = find_idle(counted(aws, second_log))

    assert first_log.counts["DescribeInstanceAttribute"] == 3  # plain, protected, far
    assert first_log.counts["DescribeSpotInstanceRequests"] == 1  # the Spot candidates of us-east-1
    assert first_log.counts["DescribeInstanceTypes"] == 2  # one per region
    assert {op: second_log.counts[op] for op in LOOK_UPS} == dict.fromkeys(LOOK_UPS, 0)
    assert cache_reads(second_log, "lookups#") == 1  # both regions in one BatchGetItem
    assert second_log.counts["BatchWriteItem"] == 0  # nothing learned, nothing written
    skips = {f.instance.instance_id: f.skip for f in second.findings if f.skip}
    assert skips == {f.instance.instance_id: f.skip for f in first.findings if f.skip}
    assert skips[ids["protected"]] is not None and skips[ids["protected"]].reason is SkipReason.STOP_PROTECTION
    assert skips[ids["local-disks"]].reason is SkipReason.LOCAL_DISKS  # type: ignore[union-attr]
    assert skips[spot].reason is SkipReason.SPOT  # type: ignore[union-attr]
    assert {f.instance.instance_id for f in second.proposed} == {ids["plain"], ids["far"]}


def test_a_region_with_more_answers_than_one_item_holds_round_trips_through_dynamodb(
    services: Services, aws: AwsEnv
) -> None:
    from reaper import lookups

    now = datetime.now(UTC)
    memory = lookups.Remembered(HOME, now)
    answers = {f"i-{n:017x}": n % 5 == 0 for n in range(lookups.SHARD_ENTRIES + 10)}  # ids as long as AWS's
    memory.learn(lookups.PROTECTION, answers)
    log = CallLog()
    cache = counted(aws, log).cache

    lookups.save(cache, [memory])  # each item under DynamoDB's 400 KB, or the write fails (logged)
    loaded = lookups.load(cache, [HOME, OTHER], now)

    assert loaded[HOME].known(lookups.PROTECTION, answers) == answers
    assert cache_reads(log, "lookups#") == 2  # the first shard says there is a second
