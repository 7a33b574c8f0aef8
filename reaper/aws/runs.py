"""DynamoDB gateway (pynamodb): reaper.ports.ReportRuns, fanned-out reports in the decisions table.

A run is one item, `run#<id>`: its shards, regions, channel and account names (JSON), the set
of shards done (a string set: ADD is idempotent) and `posted`, written once under a condition.
Each shard's findings are one item, `run#<id>#<shard>`, put under attribute_not_exists(id), so
a duplicate message stores nothing twice. Decision ids never contain "#" and cache items start
with "cache#": the kinds cannot collide, and none of these items has `state` or `outbox`, so
the decisions' sparse indexes never see them. Every item expires (TTL) a week after its run.

IAM: dynamodb:GetItem, PutItem, UpdateItem, BatchGetItem on the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from reaper.aws.dynamo import _code, _message
from reaper.errors import AwsError
from reaper.model import ReportRun
from reaper.settings import LAMBDA_TIMEOUTS, Timeouts

IAM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem")

PREFIX = "run#"
KEPT_FOR = timedelta(days=7)


class RunItem(Model):
    """A run or one shard's findings. Bound per table by _bound, like DecisionItem."""

    class Meta:
        table_name = "instance-reaper"
        region = "us-east-1"

    id = UnicodeAttribute(hash_key=True)
    run = UnicodeAttribute(null=True)  # the run's JSON (run items only)
    done = UnicodeSetAttribute(null=True)
    posted = UnicodeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    findings = BinaryAttribute(null=True, legacy_encoding=False)  # reaper.codec.pack (shard items only)
    error = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)


def _bound(table: str, region: str, host: str | None, timeouts: Timeouts) -> type[RunItem]:
    meta = type("Meta", (), {
        "table_name": table, "region": region, "host": host,
        "connect_timeout_seconds": timeouts.connect, "read_timeout_seconds": timeouts.read,
        "max_retry_attempts": timeouts.attempts - 1,
    })
    return type("BoundRunItem", (RunItem,), {"Meta": meta, "__module__": __name__})


class DynamoReportRuns:
    """reaper.ports.ReportRuns on the decisions table."""

    def __init__(self, table: str, region: str, host: str | None = None, timeouts: Timeouts = LAMBDA_TIMEOUTS) -> None:
        self.table = table
        self._model = _bound(table, region, host, timeouts)

    def open(self, run: ReportRun) -> bool:
        document = {"shards": list(run.shards), "regions": list(run.regions), "channel": run.channel,
                    "names": dict(run.names)}
        item = self._model(id=PREFIX + run.id, run=json.dumps(document), started_at=run.started_at,
                           ttl=run.started_at + KEPT_FOR)
        return self._conditional(lambda: item.save(condition=self._model.id.does_not_exist()))

    def get(self, run_id: str) -> ReportRun | None:
        with self._translated():
            try:
                item = self._model.get(PREFIX + run_id, consistent_read=True)
            except self._model.DoesNotExist:
                return None
        return _run(run_id, item)

    def put_shard(self, run_id: str, shard: str, findings: bytes | None, error: str | None) -> bool:
        item = self._model(id=f"{PREFIX}{run_id}#{shard}", findings=findings, error=error,
                           ttl=datetime.now(UTC) + KEPT_FOR)
        return self._conditional(lambda: item.save(condition=self._model.id.does_not_exist()))

    def shard_done(self, run_id: str, shard: str) -> ReportRun:
        item = self._model(id=PREFIX + run_id)
        with self._translated():
            item.update(actions=[self._model.done.add({shard})], condition=self._model.id.exists())
        return _run(run_id, item)

    def shards(self, run_id: str, shards: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        keys = [f"{PREFIX}{run_id}#{shard}" for shard in dict.fromkeys(shards)]
        found: dict[str, tuple[bytes | None, str | None]] = {}
        with self._translated():
            for item in self._model.batch_get(keys, consistent_read=True):
                found[item.id.rsplit("#", 1)[1]] = (item.findings, item.error)  # shard labels have no "#"
        return found

    def claim(self, run_id: str, why: str) -> bool:
        item = self._model(id=PREFIX + run_id)
        return self._conditional(lambda: item.update(
            actions=[self._model.posted.set(why)],
            condition=self._model.id.exists() & self._model.posted.does_not_exist()))

    def _conditional(self, write: Any) -> bool:
        """True if the conditional write went through, False if its condition did not hold."""
        try:
            with self._translated():
                write()
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except PynamoDBException as error:
            raise AwsError(f"DynamoDB: {_message(error)}", _code(error)) from error


def _run(run_id: str, item: RunItem) -> ReportRun:
    document = json.loads(item.run or "{}")
    return ReportRun(
        id=run_id,
        shards=tuple(document.get("shards", ())),
        regions=tuple(document.get("regions", ())),
        started_at=item.started_at or datetime.now(UTC),
        channel=document.get("channel"),
        names=MappingProxyType(dict(document.get("names") or {})),
        done=frozenset(item.done or ()),
        posted=item.posted,
    )
