"""EC2 gateway: the running inventory, per-candidate look-ups, and one-instance stops.

IAM: ec2:DescribeInstances, ec2:DescribeInstanceAttribute,
ec2:DescribeSpotInstanceRequests, ec2:DescribeInstanceTypes, ec2:StopInstances, ec2:DescribeVolumes,
ec2:CreateTags (for the reaper:keep-until key alone: infra/template.yaml, MirrorKeepsToOneTag).
Hibernating (StopInstances with Hibernate=True) and dry runs (DryRun=True) are StopInstances
too: they need no other permission.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from types import MappingProxyType
from typing import Any

from reaper.aws.clients import translated
from reaper.errors import AwsError, HibernationRefused
from reaper.keeps import KEEP_TAG
from reaper.model import HIBERNATED, DecisionState, Instance, StopAttempt
from reaper.money import Volume

IAM_ACTIONS = (
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeSpotInstanceRequests",
    "ec2:DescribeInstanceTypes",
    "ec2:StopInstances",
    "ec2:DescribeVolumes",
    "ec2:CreateTags",
)

PAGE_SIZE = 1000  # DescribeInstances' maximum MaxResults
TYPES_PER_CALL = 100  # DescribeInstanceTypes takes at most 100 instance types a request
VOLUME_IDS_PER_CALL = 200  # values of one DescribeVolumes filter

# StopInstances refusals that are expected races or facts about the instance, not faults:
# each ends the decision with a recorded outcome and is never retried.
_STOP_REFUSALS: dict[str, tuple[DecisionState, str]] = {
    "IncorrectInstanceState": (DecisionState.SKIPPED, "the instance is not in a state that can be stopped"),
    "UnsupportedOperation": (DecisionState.SKIPPED, "EC2 does not support stopping this instance"),
    "OperationNotPermitted": (DecisionState.SKIPPED, "stop protection is enabled"),
    "UnauthorizedOperation": (DecisionState.FAILED, "the reaper's IAM role may not stop this instance"),
    "InvalidInstanceID.NotFound": (DecisionState.SKIPPED, "the instance no longer exists"),
}

# What EC2 answers to StopInstances with Hibernate=True when the hibernation, not the stop, is
# the problem: hibernation not configured or not supported for the instance (for example not
# ready yet: EC2 needs a few minutes after launch to prepare it), or
# UnsupportedOperation for an instance type or AMI that cannot hibernate.
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
_HIBERNATION_REFUSALS = ("UnsupportedHibernationConfiguration", "UnsupportedOperation")

# A dry run's answers: DryRunOperation is EC2's "the request would have succeeded" (as an error,
# HTTP 412); UnauthorizedOperation that it would have failed for want of permission.
DRY_RUN_OK = "DryRunOperation"


class Ec2Gateway:
    """reaper.ports.Ec2 on a boto3 EC2 client of that region."""

    def __init__(self, client: Any, region: str, account: str | None = None, account_name: str | None = None) -> None:
        self._client = client
        self.region = region
        self._account = account, account_name  # many accounts (issue 15): a member account's, carried by its rows
        # Instance type → whether it has instance-store disks. A type's storage never changes,
        # so each is asked once for the life of the gateway (bootstrap keeps one per region for
        # the process): a scan asks for its candidates' types in one call, a click for none.
        self._local_disks: dict[str, bool] = {}
        self._types_lock = threading.Lock()

    def running_pages(self) -> Iterator[list[Instance]]:
        """Every instance of every reservation, filtered to running on the server side, a page at a time."""
        with translated("DescribeInstances"):
            paginator = self._client.get_paginator("describe_instances")
            pages = paginator.paginate(
                Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
            for page in pages:
                yield [self._instance(raw) for r in page.get("Reservations", []) for raw in r.get("Instances", [])]

    def describe(self, instance_id: str) -> Instance | None:
        """The instance in any state, or None when EC2 does not know it."""
        try:
            with translated("DescribeInstances"):
                response = self._client.describe_instances(InstanceIds=[instance_id])
        except AwsError as error:
            if error.code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                return None
            raise
        for reservation in response.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                return self._instance(raw)
        return None

    def stop_protected(self, instance_id: str) -> bool:
        with translated("DescribeInstanceAttribute"):
            response = self._client.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiStop")
        return bool(response.get("DisableApiStop", {}).get("Value", False))

    def persistent_spot_requests(self, request_ids: Iterable[str]) -> set[str]:
        """Which of these Spot requests are persistent (their instances can be stopped)."""
        ids = sorted(set(request_ids))
        if not ids:
            return set()
        try:
            with translated("DescribeSpotInstanceRequests"):
                response = self._client.describe_spot_instance_requests(SpotInstanceRequestIds=ids)
        except AwsError as error:
            if error.code == "InvalidSpotInstanceRequestID.NotFound":
                return set()
            raise
        return {
            r["SpotInstanceRequestId"]
            for r in response.get("SpotInstanceRequests", [])
            if r.get("Type") == "persistent"
        }

    def instance_types_with_local_disks(self, instance_types: Iterable[str]) -> set[str]:
        """Which of these instance types come with instance-store disks (i3, m5d, g4dn, …).

        Their disks are erased when the instance stops, whatever its root device. EC2 says which
        types have them: DescribeInstanceTypes' InstanceStorageSupported (and InstanceStorageInfo).
        Types not asked before are asked in calls of up to 100; AwsError if EC2 does not
        describe every one of them (nothing is assumed about a type EC2 did not describe).
        """
        wanted = set(instance_types)
        with self._types_lock:
            unknown = sorted(wanted - self._local_disks.keys())
        for start in range(0, len(unknown), TYPES_PER_CALL):
            batch = unknown[start : start + TYPES_PER_CALL]
            answers = self._describe_types(batch)
            missing = sorted(set(batch) - answers.keys())
            if missing:
                raise AwsError(f"DescribeInstanceTypes did not describe {', '.join(missing)}")
            with self._types_lock:
                self._local_disks.update(answers)
        with self._types_lock:
            return {t for t in wanted if self._local_disks[t]}

    def _describe_types(self, instance_types: list[str]) -> dict[str, bool]:
        answers: dict[str, bool] = {}
        with translated("DescribeInstanceTypes"):
            paginator = self._client.get_paginator("describe_instance_types")
            for page in paginator.paginate(InstanceTypes=instance_types):
                for described in page.get("InstanceTypes", []):
                    answers[described["InstanceType"]] = bool(
                        described.get("InstanceStorageSupported") or described.get("InstanceStorageInfo")
                    )
        return answers

    def stop(self, instance_id: str, *, hibernate: bool = False, dry_run: bool = False) -> StopAttempt:
        """Stop (or hibernate) exactly one instance; expected refusals become attempts with their reason.

        AwsError when AWS refused otherwise (nothing was stopped); HibernationRefused when it
        refused the hibernation itself; StopUnconfirmed when no answer came back (the stop may
        have happened). With `dry_run`, EC2 only checks the request: DryRunOperation is a
        would_stop attempt, and any refusal says what the stop would have come to.
        """
        how = "hibernated" if hibernate else "stopped"
        request: dict[str, Any] = {"InstanceIds": [instance_id]}
        if hibernate:
            request["Hibernate"] = True
        if dry_run:
            request["DryRun"] = True
        try:
            with translated("StopInstances", unconfirmed=not dry_run):
                response = self._client.stop_instances(**request)
        except AwsError as error:
            if dry_run and error.code == DRY_RUN_OK:
                return StopAttempt(DecisionState.WOULD_STOP,
                                   f"DRY RUN: EC2 says it would have {how} the instance ({DRY_RUN_OK})",
                                   error.code, event="would-stop")
            if hibernate and error.code in _HIBERNATION_REFUSALS:
                raise HibernationRefused(str(error), error.code) from error
            if error.code in _STOP_REFUSALS:
                state, reason = _STOP_REFUSALS[error.code]
                if dry_run:
                    return StopAttempt(state, f"DRY RUN: the stop would not go through: {reason}", error.code)
                return StopAttempt(state, reason, error.code)
            raise
        if dry_run:  # an endpoint that ignores DryRun (not AWS) acted: say so rather than hide it
            return StopAttempt(DecisionState.STOPPED, "EC2 ignored DryRun and stopped the instance")
        changes = response.get("StoppingInstances", [])
        current = changes[0]["CurrentState"]["Name"] if changes else "stopping"
        if hibernate:
            return StopAttempt(DecisionState.STOPPED, f"hibernated: EC2 reports the instance {current}",
                               event=HIBERNATED)
        return StopAttempt(DecisionState.STOPPED, f"EC2 reports the instance {current}")

    def tag_keep_until(self, instance_id: str, day: str) -> None:
        """CreateTags with exactly one tag, reaper:keep-until: the role may create no other key."""
        with translated("CreateTags"):
            self._client.create_tags(Resources=[instance_id], Tags=[{"Key": KEEP_TAG, "Value": day}])

    def volumes(self, volume_ids: Iterable[str]) -> dict[str, Volume]:
        """These EBS volumes, 200 ids a call. A `volume-id` filter, not VolumeIds: one volume deleted
        since the describe would fail a VolumeIds call for all of them (InvalidVolume.NotFound)."""
        ids = sorted(set(volume_ids))
        found: dict[str, Volume] = {}
        for start in range(0, len(ids), VOLUME_IDS_PER_CALL):
            chunk = ids[start : start + VOLUME_IDS_PER_CALL]
            with translated("DescribeVolumes"):
                pages = self._client.get_paginator("describe_volumes").paginate(
                    Filters=[{"Name": "volume-id", "Values": chunk}])
                for page in pages:
                    for raw in page.get("Volumes", []):
                        found[raw["VolumeId"]] = Volume(
                            volume_id=raw["VolumeId"],
                            volume_type=raw.get("VolumeType", "unknown"),
                            size_gib=int(raw.get("Size", 0)),
                            iops=raw.get("Iops"),
                            throughput=raw.get("Throughput"),
                        )
        return found

    def _instance(self, raw: dict[str, Any]) -> Instance:
        tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}
        auto, elastic = public_ipv4s(raw)
        return Instance(
            instance_id=raw["InstanceId"],
            region=self.region,
            instance_type=raw.get("InstanceType", "unknown"),
            launch_time=raw["LaunchTime"],
            state=raw.get("State", {}).get("Name", "unknown"),
            tags=MappingProxyType(tags),
            root_device_type=raw.get("RootDeviceType", "ebs"),
            lifecycle=raw.get("InstanceLifecycle"),
            spot_request_id=raw.get("SpotInstanceRequestId"),
            platform=platform(raw),
            tenancy=raw.get("Placement", {}).get("Tenancy", "default"),
            volume_ids=tuple(m["Ebs"]["VolumeId"] for m in raw.get("BlockDeviceMappings", [])
                             if m.get("Ebs", {}).get("VolumeId")),
            public_ips=auto,
            elastic_ips=elastic,
            hibernation_configured=bool(raw.get("HibernationOptions", {}).get("Configured", False)),
            account=self._account[0],
            account_name=self._account[1],
        )


def platform(raw: dict[str, Any]) -> str | None:
    """PlatformDetails, which names what the instance is billed as. Without it (moto, old SDK models)
    only Platform is left, which says "windows" for Windows and nothing else: anything else is unknown,
    never assumed to be Linux."""
    details = raw.get("PlatformDetails")
    if details:
        return str(details)
    return "Windows" if str(raw.get("Platform", "")).lower() == "windows" else None


def public_ipv4s(raw: dict[str, Any]) -> tuple[int, int]:
    """(auto-assigned, Elastic) public IPv4s of an instance's network interfaces.

    EC2 reports an address it assigned itself with IpOwnerId "amazon" and releases it when the
    instance stops; an Elastic IP carries the owner's account id and stays, billed as idle.
    """
    seen: dict[str, bool] = {}
    for interface in raw.get("NetworkInterfaces", []):
        associations = [interface.get("Association")]
        associations += [p.get("Association") for p in interface.get("PrivateIpAddresses", [])]
        for association in associations:
            if association and association.get("PublicIp"):
                seen[association["PublicIp"]] = association.get("IpOwnerId") == "amazon"
    if not seen and raw.get("PublicIpAddress"):
        seen[raw["PublicIpAddress"]] = True  # no interfaces reported: assume EC2 assigned it
    auto = sum(1 for released in seen.values() if released)
    return auto, len(seen) - auto
