"""reaper.ports.Accounts in memory: a FakeWorld of EC2 and CloudWatch per member account (issue 15)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reaper.errors import AwsError
from reaper.model import Account, Instance
from reaper.ports import Services
from tests.fakes.core import Failures, FakeEc2, FakeMetrics, FakeWorld


def member(account_id: str, name: str | None = None) -> Account:
    return Account(account_id, f"arn:aws:iam::{account_id}:role/instance-reaper-member", name)


@dataclass
class FakeAccounts:
    """Member accounts, each with its own FakeWorld's EC2 and CloudWatch; the decisions stay in `home`.

    `refuse(account)` plays a member account whose role cannot be assumed: every call of its gateways
    raises AwsError(AccessDenied), as the real gateway's first call would. `asked` records every EC2
    gateway handed out, with the actor it was asked for (a stop's SourceIdentity).
    """

    home: FakeWorld
    accounts: Sequence[Account]
    worlds: dict[str, FakeWorld] = field(default_factory=dict)
    failures: Failures = field(default_factory=Failures)
    asked: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for account in self.accounts:
            self.worlds.setdefault(account.id, FakeWorld(self.home.regions, clock=self.home.clock))

    def listed(self) -> list[Account]:
        self.failures.call("listed")
        return list(self.accounts)

    def ec2(self, account_id: str, region: str, *, actor: str | None = None) -> FakeEc2:
        self.asked.append((account_id, region, actor))
        return self.worlds[account_id].ec2s[region]

    def metrics(self, account_id: str, region: str) -> FakeMetrics:
        return self.worlds[account_id].metrics[region]

    def name(self, account_id: str) -> str | None:
        return next((a.name for a in self.accounts if a.id == account_id), None)

    def refuse(self, account_id: str) -> None:
        denied = AwsError(f"AccessDenied: not authorized to perform sts:AssumeRole in {account_id}", "AccessDenied")
        world = self.worlds[account_id]
        for region in world.regions:
            for operation in ("running_pages", "describe", "stop", "stop_protected"):
                world.ec2s[region].failures.fail(operation, denied, times=1000)
            for operation in ("daily_usage", "usage_since"):
                world.metrics[region].failures.fail(operation, denied, times=1000)

    def launch(self, account_id: str, instance_id: str, **kwargs: Any) -> Instance:
        """An instance in a member account, carrying the account as the real gateway's rows do."""
        return self.worlds[account_id].launch(instance_id, account=account_id,
                                              account_name=self.name(account_id), **kwargs)

    @property
    def services(self) -> Services:
        return replace(self.home.services, accounts=self)
