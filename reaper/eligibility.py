"""Whether an idle instance may be offered for stopping, and if not, why: one pipeline for every caller.

The rules follow what stopping would break: Auto Scaling, Kubernetes node managers, EMR,
EC2 and Spot Fleets, Batch, Elastic Beanstalk and Cloud9 manage their instances (a stopped
one is replaced or breaks its cluster); a stop erases an instance-store root and local
instance-store disks; a one-time Spot instance cannot be stopped at all; and stop
protection or a team member's Keep says no. What is offered has EBS volumes only. Tag keys
are read in any case, as IAM reads them (see `tag_values`).

`assess` runs the rules in order of cost: tags and root device first (free, from
DescribeInstances), then one Spot-request look-up for all Spot candidates, then the Keeps
the caller read, then one instance-type look-up for the distinct types of the candidates
left (types with local instance-store disks, whose data a stop erases even under an EBS
root; the gateway remembers each type's answer), then one stop-protection look-up per
remaining candidate. The scan calls it with a region's idle instances and a thread pool; a
click's re-check with one instance. A look-up that fails marks only its own instances as
not checked: they are not offered, and everything else stands.

The scan also passes what earlier scans learned (reaper.lookups.Remembered): an unexpired
answer is used instead of asking, and each answer asked is remembered. It paces the
stop-protection look-ups it must ask (reaper.lookups.Pace): one not asked within the
time budget leaves its instance offered with the caveat "stop protection not yet checked".
The click's re-check passes neither, so it always asks EC2: the authority before a stop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from reaper.errors import AwsError
from reaper.lookups import PROTECTION, SPOT, TYPES, Pace, Remembered
from reaper.model import Instance, Skip, SkipReason
from reaper.ports import Ec2

EXEMPT_TAG = "reaper:exempt"
NOT_EXEMPT = "false"  # the one value that does not exempt, in any case, nothing trimmed
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

# Tags AWS services write on the instances they run, each with where AWS documents it. Stopping
# such an instance breaks what manages it, or gets it replaced. Each is its own reason.
_MANAGED_TAGS: tuple[tuple[SkipReason, tuple[str, ...]], ...] = (
    # "You can identify an Amazon EC2 instance that is part of an Amazon EMR cluster by looking
    # for the following system tags": EMR Management Guide, Tag clusters,
    # https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-tags.html
    (SkipReason.EMR, ("aws:elasticmapreduce:job-flow-id", "aws:elasticmapreduce:instance-group-role")),
    # "EC2 Fleet automatically adds a tag to the instances with a key of aws:ec2:fleet-id":
    # AWS's EC2 Spot Workshops, Launching EC2 Spot Instances, EC2 Fleet (github.com/awslabs/
    # ec2-spot-workshops, content/launching_ec2_spot_instances/ec2_fleet.md); the EC2 User Guide
    # does not list the tag. An instance that also carries the Auto Scaling tag is reported
    # as an Auto Scaling member: that rule comes first.
    (SkipReason.EC2_FLEET, ("aws:ec2:fleet-id",)),
    # "aws:ec2spot:fleet-request-id identifies the Amazon EC2 Spot Instance Request that
    # launched the instance": IAM User Guide, Tagging IAM resources, tag naming,
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html
    (SkipReason.SPOT_FLEET, ("aws:ec2spot:fleet-request-id",)),
    # Batch's service-linked role may terminate only instances tagged AWSBatchServiceTag
    # (BatchServiceRolePolicy: ec2:TerminateInstances with Null aws:ResourceTag/AWSBatchServiceTag
    # "false"), so Batch tags every instance it launches with it: AWS Batch User Guide, AWS
    # managed policies, https://docs.aws.amazon.com/batch/latest/userguide/security-iam-awsmanpol.html.
    # aws:batch:compute-environment is the tag Batch's instances show in DescribeInstances;
    # no AWS page found lists it, so it is matched as well, not instead.
    (SkipReason.BATCH, ("AWSBatchServiceTag", "aws:batch:compute-environment")),
    # "Elastic Beanstalk applies three tags by default. elasticbeanstalk:environment-name is the
    # name of the environment. elasticbeanstalk:environment-id is the environment ID": Elastic
    # Beanstalk Developer Guide, Tagging your environment's resources,
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/using-features.tagging.html
    (SkipReason.BEANSTALK, ("elasticbeanstalk:environment-id", "elasticbeanstalk:environment-name")),
    # An instance is "an AWS Cloud9 EC2 development environment (aws:cloud9:environment)": AWS
    # Cloud9 User Guide, Accessing no-ingress EC2 instances with Systems Manager,
    # https://docs.aws.amazon.com/cloud9/latest/user-guide/ec2-ssm.html
    (SkipReason.CLOUD9, ("aws:cloud9:environment",)),
)

T = TypeVar("T")
R = TypeVar("R")
# Runs a look-up over many instances: the builtin map (one at a time) or a thread pool's map.
Mapper = Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]


def tag_values(tags: Mapping[str, str], key: str) -> list[str]:
    """The values of every tag whose key is `key` in any case: how IAM reads aws:ResourceTag/<key>.

    IAM: "Key names are not case-sensitive. This means that if you specify
    "aws:ResourceTag/TagKey1": "Value1" in the condition element of your policy, then the
    condition matches a resource tag key named either TagKey1 or tagkey1, but not both"
    (IAM User Guide, IAM JSON policy elements: Condition,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
    EC2 keeps `Reaper:Exempt` and `reaper:exempt` as two tags, and which one IAM then reads is
    not said: every spelling counts here. Keys are compared case-folded, the widest
    case-insensitive match.
    """
    wanted = key.casefold()
    return [value for name, value in tags.items() if name.casefold() == wanted]


def exempt(tags: Mapping[str, str]) -> bool:
    """Tagged reaper:exempt, in any spelling of the key, with any value but "false" in any case.

    The same rule as the template's explicit Deny (Null false + StringNotEqualsIgnoreCase
    "false" on aws:ResourceTag/reaper:exempt): nothing is trimmed, so " false " exempts, as it
    does for IAM. With several spellings of the key, one value other than "false" is enough,
    since IAM may read that one. An empty value exempts (a key-only tag). Values are lowered,
    not case-folded: only "false" in ASCII letters lowers to "false", so no value IAM could
    read as other than "false" is taken for it.
    """
    return any(value.lower() != NOT_EXEMPT for value in tag_values(tags, EXEMPT_TAG))


def _tagged(tags: Mapping[str, str], keys: Iterable[str]) -> bool:
    return any(tag_values(tags, key) for key in keys)


def static_skip(instance: Instance) -> SkipReason | None:
    """The reasons that need nothing beyond DescribeInstances, in order of precedence."""
    tags = instance.tags
    if exempt(tags):
        return SkipReason.EXEMPT
    if _tagged(tags, (AUTOSCALING_TAG,)):
        return SkipReason.AUTOSCALING
    if _tagged(tags, _KUBERNETES_TAGS) or any(k.casefold().startswith("kubernetes.io/cluster/") for k in tags):
        return SkipReason.KUBERNETES
    for reason, keys in _MANAGED_TAGS:
        if _tagged(tags, keys):
            return reason
    if instance.root_device_type == "instance-store":
        return SkipReason.INSTANCE_STORE
    return None


def assess(
    instances: Sequence[Instance],
    ec2: Ec2,
    *,
    kept: Collection[tuple[str, str]] = (),
    run: Mapper[tuple[Instance, bool], bool | AwsError | None] = map,
    remembered: Remembered | None = None,
    pace: Pace | None = None,
) -> dict[str, Skip | None]:
    """Instance id → why it may not be stopped (None: it may). `instances` are of `ec2`'s region.

    With `remembered`, unexpired answers of earlier scans are used and new ones recorded; with
    `pace`, stop-protection look-ups wait for its tokens, and those past its deadline are not
    asked (Skip NOT_YET_CHECKED, which does not keep the row off the report).
    """
    memory = remembered if remembered is not None else Remembered(ec2.region, _EPOCH)
    skips: dict[str, Skip | None] = {}
    candidates: list[Instance] = []
    for instance in instances:
        reason = static_skip(instance)
        skips[instance.instance_id] = Skip(reason) if reason else None
        if reason is None:
            candidates.append(instance)

    spot = [i for i in candidates if i.lifecycle == "spot"]
    if spot:
        requests = {i.spot_request_id for i in spot if i.spot_request_id}
        persistent = memory.known(SPOT, requests) if remembered is not None else {}
        unknown = sorted(requests - persistent.keys())
        failure: Skip | None = None
        if unknown:
            try:
                answered = ec2.persistent_spot_requests(unknown)
            except AwsError as error:
                failure = Skip(SkipReason.UNCHECKED, error.code or str(error))
            else:
                learned = {r: r in answered for r in unknown}
                memory.learn(SPOT, learned)
                persistent.update(learned)
        for instance in spot:
            if not persistent.get(instance.spot_request_id or "", False):
                answered_before = (instance.spot_request_id or "") in persistent
                skips[instance.instance_id] = failure if failure and not answered_before else Skip(SkipReason.SPOT)
    candidates = [i for i in candidates if skips[i.instance_id] is None]

    for instance in candidates:
        if (instance.region, instance.instance_id) in kept:
            skips[instance.instance_id] = Skip(SkipReason.KEPT)
    candidates = [i for i in candidates if skips[i.instance_id] is None]

    if candidates:
        types = {i.instance_type for i in candidates}
        local = memory.known(TYPES, types) if remembered is not None else {}
        unknown_types = types - local.keys()
        try:
            if unknown_types:
                with_disks = ec2.instance_types_with_local_disks(unknown_types)
                learned_types = {t: t in with_disks for t in unknown_types}
                memory.learn(TYPES, learned_types)
                local.update(learned_types)
        except AwsError as error:
            unchecked = Skip(SkipReason.UNCHECKED, error.code or str(error))
            for instance in candidates:
                if instance.instance_type not in local:
                    skips[instance.instance_id] = unchecked
        for instance in candidates:
            if local.get(instance.instance_type):
                skips[instance.instance_id] = Skip(SkipReason.LOCAL_DISKS)
        candidates = [i for i in candidates if skips[i.instance_id] is None]

    protection = memory.known(PROTECTION, [i.instance_id for i in candidates]) if remembered is not None else {}
    for instance in candidates:
        if protection.get(instance.instance_id):
            skips[instance.instance_id] = Skip(SkipReason.STOP_PROTECTION)
    to_ask = [i for i in candidates if i.instance_id not in protection]

    def paced() -> Iterator[tuple[Instance, bool]]:
        # Executor.map consumes this in the caller's thread: the waits happen here, one region's
        # thread each, and the pool's threads only make calls.
        for instance in to_ask:
            yield instance, pace is None or pace.take()

    def protected(ask: tuple[Instance, bool]) -> bool | AwsError | None:
        instance, allowed = ask
        if not allowed:
            return None
        try:
            return ec2.stop_protected(instance.instance_id)
        except AwsError as error:
            return error

    learned_protection: dict[str, bool] = {}
    late = 0
    for instance, answer in zip(to_ask, run(protected, paced()), strict=True):
        if answer is None:
            skips[instance.instance_id] = Skip(SkipReason.NOT_YET_CHECKED)
            late += 1
        elif isinstance(answer, AwsError):
            skips[instance.instance_id] = Skip(SkipReason.UNCHECKED, answer.code or str(answer))
        else:
            learned_protection[instance.instance_id] = answer
            if answer:
                skips[instance.instance_id] = Skip(SkipReason.STOP_PROTECTION)
    memory.learn(PROTECTION, learned_protection)
    if late:
        memory.not_yet_checked(late)
    return skips


# A memory nobody keeps (no `remembered` given): its expiries are never read.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
