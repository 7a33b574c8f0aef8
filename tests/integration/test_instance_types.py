"""The EC2 gateway's instance-type look-up against moto's server: which types carry local disks, asked once.

moto's DescribeInstanceTypes data (checked over HTTP) says InstanceStorageSupported for the
types that have instance-store disks (m5d, c5d, r5d, i3, i4i, g4dn, …) and not for t3 or m5,
as AWS does. It knows no p3.2xlarge (it answers InvalidInstanceType), and it neither pages
a filtered answer nor leaves a type out of one: those two paths are driven with botocore's
Stubber instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from demo.fleet import Machine
from reaper import decisions
from reaper.aws.ec2 import TYPES_PER_CALL, Ec2Gateway
from reaper.errors import AwsError
from reaper.model import DecisionState, SkipReason
from reaper.ports import Services
from reaper.scan import find_idle
from tests.aws import HOME, AwsEnv
from tests.calls import CallLog
from tests.integration.conftest import Seed, quiet

LOCAL = ["m5d.large", "c5d.xlarge", "r5d.large", "i3.large", "i4i.large", "g4dn.xlarge"]
EBS_ONLY = ["t3.medium", "m5.large", "c6i.large"]


def gateway(aws: AwsEnv, log: CallLog) -> Ec2Gateway:
    return Ec2Gateway(log.attach(aws.client("ec2")), HOME)


def test_types_with_instance_store_disks_are_told_apart_in_one_call(aws: AwsEnv) -> None:
    log = CallLog()

    local = gateway(aws, log).instance_types_with_local_disks(LOCAL + EBS_ONLY)

    assert local == set(LOCAL)
    assert log.counts["DescribeInstanceTypes"] == 1
    assert sorted(log.params["DescribeInstanceTypes"][0]["InstanceTypes"]) == sorted(LOCAL + EBS_ONLY)


def test_a_type_is_asked_once_for_the_life_of_the_gateway(aws: AwsEnv) -> None:
    log = CallLog()
    ec2 = gateway(aws, log)

    ec2.instance_types_with_local_disks(["m5d.large", "t3.medium"])
    again = ec2.instance_types_with_local_disks(["t3.medium", "m5d.large"])
    more = ec2.instance_types_with_local_disks(["t3.medium", "i3.large"])

    assert again == {"m5d.large"} and more == {"i3.large"}
    assert [sorted(p["InstanceTypes"]) for p in log.params["DescribeInstanceTypes"]] == [
        ["m5d.large", "t3.medium"], ["i3.large"]
    ]


def test_more_than_a_hundred_types_take_calls_of_at_most_a_hundred(aws: AwsEnv) -> None:
    every = sorted(t["InstanceType"] for page in aws.client("ec2").get_paginator("describe_instance_types").paginate()
                   for t in page["InstanceTypes"])
    wanted = every[:150]
    log = CallLog()

    gateway(aws, log).instance_types_with_local_disks(wanted)

    sizes = [len(p["InstanceTypes"]) for p in log.params["DescribeInstanceTypes"]]
    assert sizes == [TYPES_PER_CALL, 50]


def test_a_type_ec2_does_not_know_is_an_error_not_a_type_without_disks(aws: AwsEnv) -> None:
    log = CallLog()
    ec2 = gateway(aws, log)

    with pytest.raises(AwsError) as raised:
        ec2.instance_types_with_local_disks(["t3.medium", "x9.nonexistent"])

    assert raised.value.code == "InvalidInstanceType"
    assert ec2.instance_types_with_local_disks(["t3.medium"]) == set()  # asked again: nothing was remembered
    assert log.counts["DescribeInstanceTypes"] == 2


def test_an_answer_that_leaves_a_type_out_is_an_error(aws: AwsEnv) -> None:
    client = aws.client("ec2")
    with Stubber(client) as stub:
        stub.add_response("describe_instance_types", {"InstanceTypes": [
            {"InstanceType": "t3.medium", "InstanceStorageSupported": False},
        ]})
        with pytest.raises(AwsError, match="did not describe m5d.large"):
            Ec2Gateway(client, HOME).instance_types_with_local_disks(["t3.medium", "m5d.large"])


def test_pages_of_an_answer_are_followed(aws: AwsEnv) -> None:
    client = aws.client("ec2")
    sent: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.ec2.DescribeInstanceTypes",
                                lambda params, **_: sent.append(dict(params)))
    with Stubber(client) as stub:
        stub.add_response("describe_instance_types", {"InstanceTypes": [
            {"InstanceType": "t3.medium", "InstanceStorageSupported": False}], "NextToken": "page-2"})
        stub.add_response("describe_instance_types", {"InstanceTypes": [
            {"InstanceType": "m5d.large", "InstanceStorageSupported": True,
             "InstanceStorageInfo": {"TotalSizeInGB": 75}}]})
        local = Ec2Gateway(client, HOME).instance_types_with_local_disks(["t3.medium", "m5d.large"])

    assert local == {"m5d.large"}
    assert [p.get("NextToken") for p in sent] == [None, "page-2"]


def test_the_scan_and_the_click_skip_an_idle_instance_with_local_disks(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    ids = seed([quiet("scratch-m5d", instance_type="m5d.large"), quiet("plain-t3"),
                Machine("nvme-i3", HOME, [0.5] * 14, [0.5] * 14, instance_type="i3.large")])

    found = {f.instance.name: f for f in find_idle(services, [HOME]).findings}

    assert found["scratch-m5d"].skip is not None and found["scratch-m5d"].skip.reason is SkipReason.LOCAL_DISKS
    assert found["nvme-i3"].skip is not None and found["nvme-i3"].skip.reason is SkipReason.LOCAL_DISKS
    assert found["plain-t3"].proposed

    result = decisions.stop_instance(services, ids["scratch-m5d"], "alice", region=HOME)  # the CLI's path

    assert result.decision is not None and result.decision.state is DecisionState.SKIPPED
    assert result.message == "local instance-store disks would be erased"
    state = aws.client("ec2").describe_instances(InstanceIds=[ids["scratch-m5d"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
