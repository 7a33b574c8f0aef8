"""Which idle instances may be offered for stopping, and the reason when not."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from reaper.eligibility import skip_reason
from reaper.model import Instance, SkipReason


def instance(tags: dict[str, str] | None = None, **kwargs: object) -> Instance:
    return Instance(
        "i-0123456789abcdef0",
        "us-east-1",
        "t3.micro",
        datetime(2026, 1, 1, tzinfo=UTC),
        tags=MappingProxyType(tags or {}),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_plain_ebs_on_demand_instance_is_offered() -> None:
    assert skip_reason(instance({"Name": "dev"})) is None


@pytest.mark.parametrize("value", ["true", "yes", "", "because finance said so", "FALSE-ish"])
def test_exempt_tag_with_any_value_but_false_exempts(value: str) -> None:
    assert skip_reason(instance({"reaper:exempt": value})) is SkipReason.EXEMPT


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_exempt_tag_set_to_false_does_not_exempt(value: str) -> None:
    assert skip_reason(instance({"reaper:exempt": value})) is None


def test_auto_scaling_members_are_not_offered() -> None:
    assert skip_reason(instance({"aws:autoscaling:groupName": "web"})) is SkipReason.AUTOSCALING


@pytest.mark.parametrize(
    "tag", ["eks:cluster-name", "eks:nodegroup-name", "karpenter.sh/nodepool", "kubernetes.io/cluster/main"]
)
def test_kubernetes_nodes_are_not_offered(tag: str) -> None:
    assert skip_reason(instance({tag: "owned"})) is SkipReason.KUBERNETES


def test_instance_store_root_is_not_offered() -> None:
    assert skip_reason(instance(root_device_type="instance-store")) is SkipReason.INSTANCE_STORE


def test_one_time_spot_is_not_offered_but_persistent_spot_is() -> None:
    spot = instance(lifecycle="spot", spot_request_id="sir-1")
    assert skip_reason(spot) is SkipReason.SPOT
    assert skip_reason(spot, persistent_spot=True) is None


def test_stop_protection_and_keep_are_reasons() -> None:
    assert skip_reason(instance(), stop_protected=True) is SkipReason.STOP_PROTECTION
    assert skip_reason(instance(), kept=True) is SkipReason.KEPT


def test_exemption_takes_precedence_over_later_rules() -> None:
    both = instance({"reaper:exempt": "true", "aws:autoscaling:groupName": "web"})
    assert skip_reason(both, stop_protected=True) is SkipReason.EXEMPT
