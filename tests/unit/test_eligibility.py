"""Which idle instances may be offered for stopping, and why not: the one pipeline, on a fake EC2."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from reaper.eligibility import assess
from reaper.errors import AwsError
from reaper.model import Instance, SkipReason
from tests.fakes.core import HOME, FakeEc2


def instance(tags: dict[str, str] | None = None, instance_id: str = "i-0123456789abcdef0",
             instance_type: str = "t3.micro", **kwargs: object) -> Instance:
    return Instance(
        instance_id,
        HOME,
        instance_type,
        datetime(2026, 1, 1, tzinfo=UTC),
        tags=MappingProxyType(tags or {}),
        **kwargs,  # type: ignore[arg-type]
    )


def reason(candidate: Instance, ec2: FakeEc2 | None = None, **kwargs: object) -> SkipReason | None:
    skip = assess([candidate], ec2 or FakeEc2(HOME), **kwargs)[candidate.instance_id]  # type: ignore[arg-type]
    return None if skip is None else skip.reason


def test_a_plain_ebs_on_demand_instance_is_offered() -> None:
    assert reason(instance({"Name": "dev"})) is None


@pytest.mark.parametrize("value", ["true", "yes", "", "license server", "no", "0"])
def test_exempt_tag_with_any_value_but_false_exempts(value: str) -> None:
    assert reason(instance({"reaper:exempt": value})) is SkipReason.EXEMPT


@pytest.mark.parametrize("value", ["false", "False", "FALSE", "fAlSe"])
def test_exempt_tag_set_to_false_in_any_case_does_not_exempt(value: str) -> None:
    assert reason(instance({"reaper:exempt": value})) is None


@pytest.mark.parametrize("value", [" false ", "false ", "\tfalse", "false\n"])
def test_false_with_whitespace_still_exempts_as_the_iam_deny_does(value: str) -> None:
    # The template's Deny compares the value untrimmed (StringNotEqualsIgnoreCase "false"):
    # IAM refuses to stop it, so the code must not offer it.
    assert reason(instance({"reaper:exempt": value})) is SkipReason.EXEMPT


@pytest.mark.parametrize("key", ["Reaper:Exempt", "REAPER:EXEMPT", "reaper:Exempt"])
def test_the_exempt_key_is_matched_in_any_case_as_iam_matches_it(key: str) -> None:
    assert reason(instance({key: "true"})) is SkipReason.EXEMPT
    assert reason(instance({key: "yes"})) is SkipReason.EXEMPT
    assert reason(instance({key: "FALSE"})) is None


def test_one_spelling_saying_exempt_is_enough_when_the_key_is_spelt_twice() -> None:
    # IAM reads one of the two (which one is not documented): it may deny.
    assert reason(instance({"reaper:exempt": "false", "Reaper:Exempt": "true"})) is SkipReason.EXEMPT
    assert reason(instance({"reaper:exempt": "false", "REAPER:EXEMPT": "False"})) is None


@pytest.mark.parametrize("key", ["reaper-exempt", "reaper:exempt ", "exempt", "reaper:exemption"])
def test_other_keys_do_not_exempt(key: str) -> None:
    assert reason(instance({key: "true"})) is None


@pytest.mark.parametrize("key", ["aws:autoscaling:groupName", "aws:autoscaling:groupname"])
def test_the_auto_scaling_key_is_matched_in_any_case(key: str) -> None:
    assert reason(instance({key: "web"})) is SkipReason.AUTOSCALING


def test_auto_scaling_members_are_not_offered() -> None:
    assert reason(instance({"aws:autoscaling:groupName": "web"})) is SkipReason.AUTOSCALING


@pytest.mark.parametrize(
    "tag", ["eks:cluster-name", "karpenter.sh/nodepool", "kubernetes.io/cluster/prod", "karpenter.sh/managed-by"]
)
def test_kubernetes_nodes_are_not_offered(tag: str) -> None:
    assert reason(instance({tag: "owned"})) is SkipReason.KUBERNETES


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("aws:elasticmapreduce:job-flow-id", SkipReason.EMR),
        ("aws:elasticmapreduce:instance-group-role", SkipReason.EMR),
        ("aws:ec2:fleet-id", SkipReason.EC2_FLEET),
        ("aws:ec2spot:fleet-request-id", SkipReason.SPOT_FLEET),
        ("AWSBatchServiceTag", SkipReason.BATCH),
        ("aws:batch:compute-environment", SkipReason.BATCH),
        ("elasticbeanstalk:environment-id", SkipReason.BEANSTALK),
        ("elasticbeanstalk:environment-name", SkipReason.BEANSTALK),
        ("aws:cloud9:environment", SkipReason.CLOUD9),
    ],
)
def test_instances_that_an_aws_service_manages_are_not_offered_each_with_its_reason(
    tag: str, expected: SkipReason
) -> None:
    assert reason(instance({tag: "x-123"})) is expected


@pytest.mark.parametrize(
    ("skip", "manager"),
    [(SkipReason.EMR, "EMR cluster"), (SkipReason.EC2_FLEET, "EC2 Fleet"), (SkipReason.SPOT_FLEET, "Spot Fleet"),
     (SkipReason.BATCH, "AWS Batch"), (SkipReason.BEANSTALK, "Elastic Beanstalk"), (SkipReason.CLOUD9, "Cloud9")],
)
def test_each_managed_reason_names_what_manages_the_instance(skip: SkipReason, manager: str) -> None:
    assert manager in skip.text


def test_an_auto_scaling_member_launched_by_a_fleet_is_reported_as_auto_scaling() -> None:
    tags = {"aws:autoscaling:groupName": "nodes", "aws:ec2:fleet-id": "fleet-1"}
    assert reason(instance(tags)) is SkipReason.AUTOSCALING


def test_instance_store_root_is_not_offered() -> None:
    assert reason(instance(root_device_type="instance-store")) is SkipReason.INSTANCE_STORE


def test_a_type_with_local_instance_store_disks_is_not_offered_though_its_root_is_ebs() -> None:
    ec2 = FakeEc2(HOME)
    ec2.local_disk_types |= {"m5d.large", "i3.large"}

    skips = assess([instance(instance_id="i-m5d", instance_type="m5d.large"),
                    instance(instance_id="i-i3", instance_type="i3.large"),
                    instance(instance_id="i-t3", instance_type="t3.micro")], ec2)

    assert skips["i-m5d"] is not None and skips["i-m5d"].text == "local instance-store disks would be erased"
    assert skips["i-i3"] is not None and skips["i-i3"].reason is SkipReason.LOCAL_DISKS
    assert skips["i-t3"] is None


def test_one_type_look_up_covers_every_distinct_type_of_the_candidates_left() -> None:
    ec2 = FakeEc2(HOME)
    candidates = [instance(instance_id=f"i-{n}", instance_type=t)
                  for n, t in enumerate(["t3.micro", "m5d.large", "t3.micro", "r5d.large"])]
    skipped_first = instance({"reaper:exempt": "yes"}, instance_id="i-exempt", instance_type="i3.large")

    assess([*candidates, skipped_first], ec2, kept={(HOME, "i-3")})

    assert ec2.type_lookups == [{"t3.micro", "m5d.large"}]  # not the exempt i3, not the kept r5d


def test_a_failed_type_look_up_marks_its_candidates_could_not_check_and_asks_no_more() -> None:
    ec2 = FakeEc2(HOME)
    ec2.failures.fail("instance_types_with_local_disks", AwsError("Rate exceeded", "RequestLimitExceeded"))

    skips = assess([instance(instance_id="i-a"), instance(instance_id="i-b", instance_type="m5d.large"),
                    instance({"aws:autoscaling:groupName": "web"}, instance_id="i-asg")], ec2)

    assert skips["i-a"] is not None and skips["i-a"].text == "could not check: RequestLimitExceeded"
    assert skips["i-b"] is not None and skips["i-b"].reason is SkipReason.UNCHECKED
    assert skips["i-asg"] is not None and skips["i-asg"].reason is SkipReason.AUTOSCALING
    assert ec2.failures.calls["stop_protected"] == 0


def test_one_time_spot_is_not_offered_but_persistent_spot_is() -> None:
    ec2 = FakeEc2(HOME)
    ec2.persistent_requests.add("sir-persistent")
    one_time = instance(instance_id="i-once", lifecycle="spot", spot_request_id="sir-once")
    persistent = instance(instance_id="i-kept", lifecycle="spot", spot_request_id="sir-persistent")

    skips = assess([one_time, persistent], ec2)

    assert skips["i-once"] is not None and skips["i-once"].reason is SkipReason.SPOT
    assert skips["i-kept"] is None
    assert ec2.failures.calls["persistent_spot_requests"] == 1  # one look-up for all Spot candidates


def test_stop_protection_and_keep_are_reasons() -> None:
    ec2 = FakeEc2(HOME)
    ec2.protected.add("i-0123456789abcdef0")
    assert reason(instance(), ec2) is SkipReason.STOP_PROTECTION
    assert reason(instance(), kept={(HOME, "i-0123456789abcdef0")}) is SkipReason.KEPT


def test_look_ups_are_asked_only_when_the_free_rules_pass() -> None:
    ec2 = FakeEc2(HOME)

    assess([instance({"reaper:exempt": "yes"}), instance(instance_id="i-kept")], ec2, kept={(HOME, "i-kept")})

    assert ec2.failures.calls == {}


def test_exemption_takes_precedence_over_later_rules() -> None:
    ec2 = FakeEc2(HOME)
    ec2.protected.add("i-0123456789abcdef0")
    assert reason(instance({"reaper:exempt": "true"}), ec2) is SkipReason.EXEMPT


def test_a_failed_look_up_marks_only_its_own_instance() -> None:
    ec2 = FakeEc2(HOME)
    ec2.failures.fail("stop_protected", AwsError("Rate exceeded", "RequestLimitExceeded"))

    skips = assess([instance(instance_id="i-a"), instance(instance_id="i-b")], ec2)

    assert skips["i-a"] is not None and skips["i-a"].text == "could not check: RequestLimitExceeded"
    assert skips["i-b"] is None


def test_a_failed_spot_look_up_marks_the_spot_candidates_only() -> None:
    ec2 = FakeEc2(HOME)
    ec2.failures.fail("persistent_spot_requests", AwsError("Unavailable", "Unavailable"))

    skips = assess([instance(instance_id="i-spot", lifecycle="spot", spot_request_id="sir-1"),
                    instance(instance_id="i-plain")], ec2)

    assert skips["i-spot"] is not None and skips["i-spot"].reason is SkipReason.UNCHECKED
    assert skips["i-plain"] is None
