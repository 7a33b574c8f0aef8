"""Many accounts (issue 15): shards, and which account's gateway serves an instance or a decision.

A *shard* is one region of one account, scanned on its own with the same batching as a
one-account scan, so the lower bound on calls (ceil(n/1000) describes + ceil(4n/500) metric
calls) holds per shard. With no member accounts configured (Services.accounts is None) the
only account is the reaper's own, shards are plain regions, and every call goes where it
always went: this module then changes nothing.

A stop in a member account is made on credentials assumed with SourceIdentity set to the
approver (their Slack user id): AWS records it in the member account's CloudTrail on every
call made with them, and a role chained from them cannot drop it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reaper.model import Account
from reaper.ports import Ec2, Metrics, Services

# What sts:AssumeRole accepts as SourceIdentity: 2 to 64 characters of [A-Za-z0-9_+=,.@-]
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
_NOT_IN_SOURCE_IDENTITY = re.compile(r"[^\w+=,.@-]", re.ASCII)
SOURCE_IDENTITY_MAX = 64


def source_identity(actor: str) -> str:
    """`actor` as STS accepts it for SourceIdentity: other characters become "-", at most 64,
    at least 2 (a Slack user id, U0123ABCD, passes unchanged)."""
    cleaned = _NOT_IN_SOURCE_IDENTITY.sub("-", actor.strip())[:SOURCE_IDENTITY_MAX]
    return cleaned if len(cleaned) >= 2 else (cleaned + "--")[:2]


@dataclass(frozen=True, slots=True)
class Shard:
    """One region of one account; `account` None is the reaper's own account."""

    region: str
    account: Account | None = None

    @property
    def label(self) -> str:
        """How reports name it: the region alone in one account, "<account id>/<region>" otherwise."""
        return self.region if self.account is None else f"{self.account.id}/{self.region}"


def shards(services: Services, regions: tuple[str, ...]) -> list[Shard]:
    """Every shard of a scan of `regions`: each region of each member account, or of this account
    when none is configured. AwsError when the organisation could not be listed."""
    if services.accounts is None:
        return [Shard(region) for region in regions]
    return [Shard(region, account) for account in services.accounts.listed() for region in regions]


def ec2_for(services: Services, region: str, account: str | None, *, actor: str | None = None) -> Ec2:
    """The EC2 gateway of `account`'s region (this account's when `account` is None). With `actor`,
    a member account's gateway is on credentials that name them (SourceIdentity)."""
    if account is None or services.accounts is None:
        return services.ec2(region)
    return services.accounts.ec2(account, region, actor=actor)


def metrics_for(services: Services, region: str, account: str | None) -> Metrics:
    if account is None or services.accounts is None:
        return services.metrics(region)
    return services.accounts.metrics(account, region)
