"""Whether an idle instance may be offered for stopping, and if not, why.

The rules follow what stopping would break: Auto Scaling and Kubernetes node managers
replace a stopped instance, an instance-store root is lost on stop, a one-time Spot
instance cannot be stopped at all, and stop protection or a team member's Keep says no.
"""

from __future__ import annotations

from reaper.model import Instance, SkipReason

EXEMPT_TAG = "reaper:exempt"
AUTOSCALING_TAG = "aws:autoscaling:groupName"
_KUBERNETES_TAGS = (
    "eks:cluster-name",
    "eks:nodegroup-name",
    "aws:eks:cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/provisioner-name",
    "karpenter.sh/managed-by",
    "karpenter.k8s.aws/ec2nodeclass",
)


def static_skip(instance: Instance) -> SkipReason | None:
    """The reasons that need nothing beyond DescribeInstances, in order of precedence."""
    tags = instance.tags
    if EXEMPT_TAG in tags and tags[EXEMPT_TAG].strip().lower() != "false":
        return SkipReason.EXEMPT
    if AUTOSCALING_TAG in tags:
        return SkipReason.AUTOSCALING
    if any(k in tags for k in _KUBERNETES_TAGS) or any(k.startswith("kubernetes.io/cluster/") for k in tags):
        return SkipReason.KUBERNETES
    if instance.root_device_type == "instance-store":
        return SkipReason.INSTANCE_STORE
    return None


def needs_spot_lookup(instance: Instance) -> bool:
    return instance.lifecycle == "spot"


def skip_reason(
    instance: Instance,
    *,
    persistent_spot: bool = False,
    stop_protected: bool = False,
    kept: bool = False,
) -> SkipReason | None:
    """Every rule, given the answers of the per-candidate look-ups."""
    reason = static_skip(instance)
    if reason is not None:
        return reason
    if needs_spot_lookup(instance) and not persistent_spot:
        return SkipReason.SPOT
    if stop_protected:
        return SkipReason.STOP_PROTECTION
    if kept:
        return SkipReason.KEPT
    return None
