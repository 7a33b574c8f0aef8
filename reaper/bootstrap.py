"""The composition root: real gateways built from Settings, lazily, one per region."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property

from reaper.aws import clients
from reaper.aws.cloudwatch import CloudWatchGateway
from reaper.aws.dynamo import DecisionStore
from reaper.aws.ec2 import Ec2Gateway
from reaper.aws.s3 import AuditLog
from reaper.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


class Services:
    """Everything a use case needs, built on first use so that cheap paths stay cheap.

    Creating an EC2 client costs about half a second (its service model is large), so
    nothing is built until a use case asks for it. Tests pass gateways of their own.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: DecisionStore | None = None,
        audit: AuditLog | None = None,
        ec2: Callable[[str], Ec2Gateway] | None = None,
        cloudwatch: Callable[[str], CloudWatchGateway] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._ec2: dict[str, Ec2Gateway] = {}
        self._cloudwatch: dict[str, CloudWatchGateway] = {}
        self._ec2_factory = ec2 or (lambda r: Ec2Gateway(clients.client("ec2", r, settings), r))
        self._cw_factory = cloudwatch or (
            lambda r: CloudWatchGateway(clients.client("cloudwatch", r, settings), r)
        )
        if store is not None:
            self.store = store
        if audit is not None:
            self.audit = audit

    @cached_property
    def store(self) -> DecisionStore:
        s = self.settings
        return DecisionStore(s.table, s.home_region, s.endpoint_url, s.timeouts)

    @cached_property
    def audit(self) -> AuditLog:
        s = self.settings
        return AuditLog(clients.client("s3", s.home_region, s), s.bucket)

    def ec2(self, region: str) -> Ec2Gateway:
        with self._lock:
            if region not in self._ec2:
                self._ec2[region] = self._ec2_factory(region)
            return self._ec2[region]

    def cloudwatch(self, region: str) -> CloudWatchGateway:
        with self._lock:
            if region not in self._cloudwatch:
                self._cloudwatch[region] = self._cw_factory(region)
            return self._cloudwatch[region]


def build(settings: Settings | None = None) -> Services:
    return Services(settings or Settings.from_env())
