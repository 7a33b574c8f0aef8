"""The AWS every integration and end-to-end test talks to, over HTTP.

By default: moto's server, started once per session on 127.0.0.1 (demo.emulator). With
REAPER_TEST_ENDPOINT=http://localhost:4566 the same tests run, unchanged, against an
already-running LocalStack instead.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import boto3
from pynamodb.attributes import UTCDateTimeAttribute

from demo.emulator import FAKE_CLIENT_CREDENTIALS, FAKE_CREDENTIALS, Emulator
from demo.pricelist import PriceListServer, demo_prices
from reaper import bootstrap
from reaper.ports import Services
from reaper.settings import Settings

HOME = "us-east-1"
OTHER = "eu-west-1"


def start_endpoint() -> Iterator[tuple[str, Emulator | None]]:
    external = os.environ.get("REAPER_TEST_ENDPOINT")
    if external:
        yield external, None
        return
    server = Emulator()
    server.start()
    try:
        yield server.url, server
    finally:
        server.stop()


@dataclass
class AwsEnv:
    """One test's view of AWS: its own table and bucket names, clients at the endpoint."""

    url: str
    regions: tuple[str, ...] = (HOME, OTHER)
    table: str = field(default_factory=lambda: f"reaper-test-{uuid.uuid4().hex[:8]}")
    bucket: str = field(default_factory=lambda: f"reaper-test-{uuid.uuid4().hex[:8]}")
    pricing_url: str | None = None  # the fake Price List (moto has none); None: prices off

    def env(self) -> dict[str, str]:
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": HOME,
            "AWS_DEFAULT_REGION": HOME,
            "REAPER_REGIONS": ",".join(self.regions),
            "REAPER_TABLE": self.table,
            "REAPER_BUCKET": self.bucket,
            **({"AWS_ENDPOINT_URL_PRICING": self.pricing_url} if self.pricing_url else {"REAPER_PRICES": "off"}),
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def client(self, service: str, region: str = HOME, **kwargs: Any) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=region,
            endpoint_url=self.url,
            **FAKE_CLIENT_CREDENTIALS,
            **kwargs,
        )

    def services(self, **overrides: Any) -> Services:
        return bootstrap.build(self.settings, **overrides)

    def init(self) -> Services:
        bootstrap.ensure_storage(self.settings)
        return self.services()

    def set_expiry(self, decision_id: str, at: datetime) -> None:
        """Move a report row's expiry, as time passing would (straight to the table, past the core)."""
        self.client("dynamodb").update_item(
            TableName=self.table,
            Key={"id": {"S": decision_id}},
            UpdateExpression="SET expires_at = :at",
            ExpressionAttributeValues={":at": {"S": UTCDateTimeAttribute().serialize(at)}},
        )

    def busy_now(self, instance_id: str, cpu: float = 81.0, peak: float = 97.0, region: str = HOME) -> datetime:
        """CPU data of a busy few minutes, as EC2 would publish it for the instance just now (today, UTC)."""
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date(), time(0), tzinfo=UTC)
        at = max(now - timedelta(seconds=30), midnight + (now - midnight) / 2)
        self.client("cloudwatch", region).put_metric_data(Namespace="AWS/EC2", MetricData=[{
            "MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Timestamp": at, "Unit": "Percent",
            "StatisticValues": {"SampleCount": 5, "Sum": cpu * 5, "Minimum": 0.0, "Maximum": peak},
        }])
        return at

    def started_again(self, instance_id: str, at: datetime, region: str = HOME) -> None:
        """The owner starts a stopped instance: StartInstances, and LaunchTime moved to `at`.

        AWS sets LaunchTime at every start; moto keeps the first launch's (see launched_at).
        """
        self.client("ec2", region).start_instances(InstanceIds=[instance_id])
        self.launched_at(instance_id, at, region)

    @staticmethod
    def launched_at(instance_id: str, at: datetime, region: str = HOME) -> None:
        """Set the instance's LaunchTime, as its last start would have: moto sets it once, at RunInstances,
        so a test that plays out days or a restart moves it in moto's in-process backend (the e2e and
        reliability tiers always run their own)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        instance = ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id)
        instance.launch_time = at.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC

    def clear_instances(self) -> None:
        """Terminate whatever earlier tests left running (the portable reset)."""
        for region in self.regions:
            ec2 = self.client("ec2", region)
            ids = [
                i["InstanceId"]
                for page in ec2.get_paginator("describe_instances").paginate(
                    Filters=[{"Name": "instance-state-name", "Values": ["running", "pending", "stopping", "stopped"]}]
                )
                for r in page["Reservations"]
                for i in r["Instances"]
            ]
            for start in range(0, len(ids), 1000):
                ec2.terminate_instances(InstanceIds=ids[start : start + 1000])


class _SearchPaths(list[str]):
    """A loader's search paths that keep one copy of each (boto3 appends its own at every Session)."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def share_service_models() -> None:
    """Make every botocore session of this process share one data loader, so that each service
    model (JSON) is parsed once per test process instead of once per session.

    botocore parses a service's model for every new Session: about half a second for EC2, and
    the core builds a session per `Services`, pynamodb one per table connection, and each test
    builds its own `Services` (and the e2e tier a bot). A Loader is a cache of files that do not
    change while the process runs, and nothing in botocore edits a loaded model
    (`service-data-loaded` has no handler), so sharing it changes nothing but the time.
    """
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "shared", False):
        return
    create = botocore.loaders.create_loader
    loaders: dict[str | None, botocore.loaders.Loader] = {}
    lock = threading.Lock()

    def shared(search_path_string: str | None = None) -> botocore.loaders.Loader:
        with lock:
            if search_path_string not in loaders:
                loader = create(search_path_string)
                loader._search_paths = _SearchPaths(loader.search_paths)  # type: ignore[attr-defined]
                loaders[search_path_string] = loader
            return loaders[search_path_string]

    shared.shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared


def default_amis_only() -> None:
    """Give moto's EC2 its default AMIs only, not the ~1 300 "latest" images it adds to every region.

    A reset rebuilds each region's EC2 backend at once, and with it every image moto knows, each
    with an EBS snapshot of random id: most of a reset's cost (about 0.1 s of CPU a region, at
    every test). The tests launch only `demo.fleet.AMI`, one of moto's 44 defaults; with
    MOTO_AMIS_PATH (moto's own setting, read when moto.ec2 is first imported) moto loads the
    file given instead, here its own default list, unchanged, and skips the per-region ones.
    """
    if "MOTO_AMIS_PATH" in os.environ:
        return
    from moto.utilities.utils import load_resource

    fd, path = tempfile.mkstemp(prefix="reaper-test-amis-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        json.dump(load_resource("ec2/resources/amis.json"), out)
    atexit.register(os.remove, path)
    os.environ["MOTO_AMIS_PATH"] = path


def session_names() -> tuple[str, str]:
    """The table and bucket names of one test session (of one pytest-xdist worker).

    Every test uses the same two names, so the clients and pynamodb's connection, which are
    bound to them, are built once per session rather than once per test: building a botocore
    client parses its service model (about half a second for EC2). The emulator is reset
    before each test, so a test still starts without the table and the bucket (`AwsEnv.init`
    creates them).
    """
    return f"reaper-test-{uuid.uuid4().hex[:8]}", f"reaper-test-{uuid.uuid4().hex[:8]}"
def start_price_list() -> Iterator[PriceListServer]:
    """The fake Price List on 127.0.0.1, with the demo's catalogue for the test regions."""
    with PriceListServer(demo_prices((HOME, OTHER))) as server:
        yield server


def reset_price_list(server: PriceListServer) -> None:
    server.reset(demo_prices((HOME, OTHER)))


def reset(url: str, server: Emulator | None, env: AwsEnv) -> None:
    """Empty the emulator (cheap: moto forgets its backends); the cached clients stay valid,
    since they are keyed by endpoint and region and every test uses the same credentials."""
    if server is not None:
        server.reset()
    else:
        env.clear_instances()
