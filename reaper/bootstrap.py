"""The composition root: the real gateways wired into the ports the use cases take, from Settings.

Nothing here calls AWS: clients are built on first use (an EC2 client costs about half a
second), so an entry point can build everything once at start-up and a path that never
reaches AWS (a Slack ack) pays nothing. Tests pass fakes for any port.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reaper.aws import secrets
from reaper.aws.accounts import MemberAccounts
from reaper.aws.cache import DynamoCache
from reaper.aws.clients import Clients, aws_config, new_session
from reaper.aws.cloudwatch import CloudWatchGateway
from reaper.aws.dynamo import DynamoDecisionStore
from reaper.aws.ec2 import Ec2Gateway
from reaper.aws.pricing import PRICE_LIST_REGION, PriceListGateway
from reaper.aws.queue import SqsShardQueue
from reaper.aws.runs import DynamoReportRuns
from reaper.aws.s3 import S3AuditLog
from reaper.ports import (
    Accounts,
    AuditLog,
    Cache,
    DecisionStore,
    Ec2,
    Metrics,
    Prices,
    ReportRuns,
    Services,
    ShardQueue,
)
from reaper.settings import LAMBDA_TIMEOUTS, PRICE_LIST_TIMEOUTS, Settings, Timeouts


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(
    settings: Settings | None = None,
    *,
    store: DecisionStore | None = None,
    audit: AuditLog | None = None,
    ec2: Callable[[str], Ec2] | None = None,
    metrics: Callable[[str], Metrics] | None = None,
    clock: Callable[[], datetime] = utc_now,
    cache: Cache | None = None,
    prices: Prices | None = None,
    accounts: Accounts | None = None,
    runs: ReportRuns | None = None,
    queue: ShardQueue | None = None,
) -> Services:
    settings = settings or Settings.from_env()
    clients = Clients(settings)
    if prices is None and settings.prices:
        prices = price_list(settings)
    return Services(
        settings=settings,
        store=store or dynamo_store(settings),
        audit=audit or s3_audit_log(settings, clients),
        ec2=ec2 or functools.cache(lambda region: Ec2Gateway(clients.lazy("ec2", region), region)),
        metrics=metrics or functools.cache(
            lambda region: CloudWatchGateway(clients.lazy("cloudwatch", region), region)
        ),
        clock=clock,
        cache=cache or dynamo_cache(settings, clock),
        prices=prices,
        # Many accounts (issue 15): member accounts on assumed roles; None keeps one account, as before.
        accounts=accounts or (MemberAccounts(settings, clients) if settings.many_accounts else None),
        # Fan-out (issue 15): only with a shard queue; without one every report is one invocation's scan.
        runs=runs or (report_runs(settings) if settings.shard_queue else None),
        queue=queue or (SqsShardQueue(clients.lazy("sqs", settings.home_region), settings.shard_queue)
                        if settings.shard_queue else None),
    )


def dynamo_store(settings: Settings) -> DynamoDecisionStore:
    # pynamodb builds its own client with this host, so AWS_ENDPOINT_URL_DYNAMODB is honoured here.
    return DynamoDecisionStore(settings.table, settings.home_region, settings.endpoint_for("DynamoDB"),
                               settings.timeouts)


def report_runs(settings: Settings) -> DynamoReportRuns:
    """Fanned-out reports live in the decisions table, beside the decisions (no second table to deploy)."""
    return DynamoReportRuns(settings.table, settings.home_region, settings.endpoint_for("DynamoDB"), settings.timeouts)


def price_list(settings: Settings) -> PriceListGateway:
    """The Price List gateway, on its own short timeouts (PRICE_LIST_TIMEOUTS): prices are optional."""
    clients = Clients(dataclasses.replace(settings, timeouts=PRICE_LIST_TIMEOUTS))
    return PriceListGateway(clients.lazy("pricing", PRICE_LIST_REGION))


def dynamo_cache(settings: Settings, clock: Callable[[], datetime] = utc_now) -> DynamoCache:
    """Cache entries live in the decisions table, beside the decisions (no second table to deploy)."""
    return DynamoCache(settings.table, settings.home_region, settings.endpoint_for("DynamoDB"), settings.timeouts,
                       clock)


def s3_audit_log(settings: Settings, clients: Clients | None = None) -> S3AuditLog:
    clients = clients or Clients(settings)
    return S3AuditLog(clients.lazy("s3", settings.home_region), settings.bucket)


def ensure_storage(settings: Settings) -> tuple[bool, bool]:
    """Create the decisions table and the audit bucket if missing; (table created, bucket created)."""
    return dynamo_store(settings).ensure_table(), s3_audit_log(settings).ensure_bucket(settings.home_region)


def check_storage(settings: Settings) -> None:
    """StoreNotReady ("run `python -m reaper init`") unless the table and bucket exist: a long-running
    process checks its ground at start-up rather than at its first click."""
    dynamo_store(settings).check_table()
    s3_audit_log(settings).check_bucket()


def read_secret(name: str, region: str, timeouts: Timeouts = LAMBDA_TIMEOUTS) -> dict[str, Any]:
    """A JSON-object secret (an SSM parameter if `name` starts with "/"); SecretUnreadable says why not."""
    return secrets.read_json(name, region, timeouts=timeouts)


def lambda_client(settings: Settings) -> Any:
    """A Lambda client for Bolt's lazy listeners, which invoke this function again before each ack.

    Built by the entry point in its init phase (it costs ~60 ms, mostly botocore's endpoint data),
    so the first Slack request pays only for the request. No endpoint_url: botocore reads
    AWS_ENDPOINT_URL_LAMBDA (tests, local runs) and AWS_ENDPOINT_URL itself.
    """
    return new_session().client("lambda", region_name=settings.home_region, config=aws_config(settings.timeouts))
