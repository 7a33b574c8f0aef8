"""DynamoDB cache gateway (pynamodb): reaper.ports.Cache in the decisions table, under `cache#` ids.

One item per entry: its JSON value, when it expires, and the table's TTL attribute so that
DynamoDB deletes it some time after. An entry past its expiry is a miss even while DynamoDB
has not deleted it yet (TTL deletion can lag by days). Cache items have neither `state` nor
`outbox`, so the decisions' sparse indexes never see them; decision ids (URL-safe base64)
never contain "#", so the two kinds of item cannot collide.

Reads are BatchGetItem (100 keys a call), writes BatchWriteItem (25 a call); pynamodb retries
unprocessed keys. A cache that cannot be read is a miss and one that cannot be written does
nothing, both logged at WARNING: a report never fails for want of a cache.

IAM: dynamodb:BatchGetItem, dynamodb:BatchWriteItem on the table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from reaper.settings import LAMBDA_TIMEOUTS, Timeouts

IAM_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem")

PREFIX = "cache#"
# DynamoDB deletes expired items "typically within a few days"; the margin keeps an entry that
# is about to expire from vanishing between a read and the expiry check.
TTL_MARGIN = timedelta(days=1)

log = logging.getLogger(__name__)


class CacheItem(Model):
    """A cache entry in the decisions table. Bound per table by _bound, like DecisionItem."""

    class Meta:
        table_name = "instance-reaper"
        region = "us-east-1"

    id = UnicodeAttribute(hash_key=True)
    value = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()  # the table's TTL attribute (DecisionItem.ttl)


def _bound(table: str, region: str, host: str | None, timeouts: Timeouts) -> type[CacheItem]:
    meta = type("Meta", (), {
        "table_name": table,
        "region": region,
        "host": host,
        "connect_timeout_seconds": timeouts.connect,
        "read_timeout_seconds": timeouts.read,
        "max_retry_attempts": timeouts.attempts - 1,
    })
    return type("BoundCacheItem", (CacheItem,), {"Meta": meta, "__module__": __name__})


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DynamoCache:
    """reaper.ports.Cache on the decisions table."""

    def __init__(
        self,
        table: str,
        region: str,
        host: str | None = None,
        timeouts: Timeouts = LAMBDA_TIMEOUTS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.table = table
        self._model = _bound(table, region, host, timeouts)
        self._clock = clock

    @property
    def client(self) -> Any:
        """The botocore client pynamodb uses for this table (for botocore event hooks)."""
        return self._model._get_connection().connection.client

    def get_many(self, keys: Collection[str]) -> dict[str, Any]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        now = self._clock()
        found: dict[str, Any] = {}
        try:
            for item in self._model.batch_get([PREFIX + key for key in wanted]):
                if item.expires_at > now:
                    found[item.id[len(PREFIX):]] = json.loads(item.value)
        except (PynamoDBException, ValueError) as error:
            log.warning("cache of table %s not read (%s): %d entries are misses", self.table, _why(error),
                        len(wanted))
            return {}
        return found

    def put_many(self, items: Mapping[str, Any], ttl: timedelta) -> None:
        if not items:
            return
        expires = self._clock() + ttl
        try:
            with self._model.batch_write() as batch:
                for key, value in items.items():
                    batch.save(self._model(id=PREFIX + key, value=json.dumps(value), expires_at=expires,
                                           ttl=expires + TTL_MARGIN))
        except PynamoDBException as error:
            log.warning("cache of table %s not written (%s): %d entries will be asked again", self.table,
                        _why(error), len(items))


def _why(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".strip(" :")
    return str(cause or error).splitlines()[0] if str(cause or error) else type(error).__name__
