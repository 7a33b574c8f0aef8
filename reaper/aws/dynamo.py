"""DynamoDB gateway (pynamodb): decision records, their state machine as conditional writes.

One item per decision, keyed by an opaque random id — the only thing a Slack button carries.
Every transition is a conditional UpdateItem on the current state, so of two concurrent
clicks exactly one wins. Each transition appends an audit event to the item in the same
write; ``published_seq`` tracks how many of them reached S3, and the sparse ``outbox``
attribute (with its index) lists the items whose events still have to be published.

IAM: dynamodb:GetItem, PutItem, UpdateItem, Query, BatchWriteItem on the table and its indexes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PynamoDBException, TableDoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from reaper.errors import DecisionNotFound, StoreNotReady
from reaper.model import Decision, DecisionState
from reaper.settings import LAMBDA_TIMEOUTS, Timeouts

IAM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
)

HISTORY = timedelta(days=90)  # how long terminal decisions stay in the table (S3 keeps them for good)
OUTBOX = "unpublished"
_SEQ_BEFORE = {DecisionState.PENDING: 0, DecisionState.STOPPING: 1}
# States a person's click or command moved a row into (the sweep only settles a stop someone asked for).
DECIDED = (DecisionState.STOPPING, DecisionState.STOPPED, DecisionState.SKIPPED, DecisionState.FAILED,
           DecisionState.KEPT)


class EventMap(MapAttribute[str, Any]):
    seq = NumberAttribute()
    event = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute(null=True)
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)


class StateIndex(GlobalSecondaryIndex["DecisionItem"]):
    class Meta:
        index_name = "state-updated"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class OutboxIndex(GlobalSecondaryIndex["DecisionItem"]):
    class Meta:
        index_name = "outbox-updated"
        projection = AllProjection()

    outbox = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class DecisionItem(Model):
    class Meta:
        table_name = "instance-reaper"
        region = "us-east-1"
        host: str | None = None
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    instance_id = UnicodeAttribute()
    region = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    state = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    channel = UnicodeAttribute(null=True)
    message_ts = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    keep_until = UTCDateTimeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    seq = NumberAttribute(default=0)
    published_seq = NumberAttribute(default=0)
    events = ListAttribute(of=EventMap, default=list)
    outbox = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)

    by_state = StateIndex()
    by_outbox = OutboxIndex()


def bind(table: str, region: str, host: str | None, timeouts: Timeouts = LAMBDA_TIMEOUTS) -> None:
    """Point the model at a table and endpoint (pynamodb configures models at class level).

    pynamodb builds its own botocore client from these Meta settings, not from ours.
    """
    meta: Any = DecisionItem.Meta
    wanted = (table, region, host, timeouts.connect, timeouts.read, timeouts.attempts - 1)
    current = (meta.table_name, meta.region, meta.host,
               meta.connect_timeout_seconds, meta.read_timeout_seconds, meta.max_retry_attempts)
    if current != wanted:
        (meta.table_name, meta.region, meta.host,
         meta.connect_timeout_seconds, meta.read_timeout_seconds, meta.max_retry_attempts) = wanted
        DecisionItem._connection = None


class AlreadyDecided(Exception):
    """A conditional transition lost: the record is no longer in the state it needs."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.state.value)
        self.decision = decision


def new_id() -> str:
    """An opaque, unguessable id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class DecisionStore:
    def __init__(
        self, table: str, region: str, host: str | None = None, timeouts: Timeouts = LAMBDA_TIMEOUTS
    ) -> None:
        self.table = table
        bind(table, region, host, timeouts)

    # -- set-up ---------------------------------------------------------------------------

    def ensure_table(self) -> bool:
        """Create the table (with TTL) if missing; True when created."""
        if DecisionItem.exists():
            return False
        DecisionItem.create_table(wait=True)
        return True

    def check_table(self) -> None:
        """Raise StoreNotReady unless the table answers: a start-up check for long-running processes.

        A one-item Query on the state index: it needs only dynamodb:Query, which the code
        already declares (DescribeTable would need one more permission).
        """
        next(self._query(DecisionItem.by_state.query(DecisionState.KEPT.value, limit=1)), None)

    # -- reads ----------------------------------------------------------------------------

    def get(self, decision_id: str) -> Decision:
        with self._missing_table():
            try:
                return _decision(DecisionItem.get(decision_id, consistent_read=True))
            except DecisionItem.DoesNotExist:
                raise DecisionNotFound(decision_id) from None

    def active_keeps(self, now: datetime, instance_id: str | None = None) -> set[tuple[str, str]]:
        """(region, instance_id) of every Keep that has not expired yet."""
        condition = DecisionItem.keep_until > now
        if instance_id is not None:
            condition &= DecisionItem.instance_id == instance_id
        items = self._query(DecisionItem.by_state.query(DecisionState.KEPT.value, filter_condition=condition))
        return {(i.region, i.instance_id) for i in items}

    def recent(self, limit: int = 10) -> list[Decision]:
        """The latest decisions people made: stops (under way or settled) and keeps, newest first.

        Report rows nobody acted on (pending, expired) are not decisions: a week of daily
        reports would otherwise fill the list with expired rows and hide the real ones.
        """
        found: list[DecisionItem] = []
        for state in DECIDED:
            found.extend(self._query(
                DecisionItem.by_state.query(state.value, scan_index_forward=False, limit=limit)
            ))
        found.sort(key=lambda i: i.updated_at, reverse=True)
        return [_decision(i) for i in found[:limit]]

    def in_state(self, state: DecisionState, updated_before: datetime | None = None) -> list[Decision]:
        condition = DecisionItem.updated_at < updated_before if updated_before else None
        return [_decision(i) for i in self._query(DecisionItem.by_state.query(state.value, condition))]

    def unpublished(self) -> list[Decision]:
        return [_decision(i) for i in self._query(DecisionItem.by_outbox.query(OUTBOX))]

    def events(self, decision_id: str) -> list[dict[str, Any]]:
        item = DecisionItem.get(decision_id, consistent_read=True)
        return [e.as_dict() for e in item.events]

    # -- writes ---------------------------------------------------------------------------

    def add_rows(self, rows: Iterable[Decision]) -> None:
        """Record report rows (state pending) in as few BatchWriteItem calls as possible."""
        with self._missing_table(), DecisionItem.batch_write() as batch:
            for row in rows:
                batch.save(_item(row))

    def create(
        self, decision: Decision, event: str | None = None, actor: str | None = None, reason: str | None = None
    ) -> Decision:
        """Insert a decision that never existed (CLI stop/keep), with its first event if any."""
        item = _item(decision)
        if event is not None:
            item.seq = 1
            item.events = [_event(1, event, decision.created_at, actor, decision.state, reason)]
            item.outbox = OUTBOX
        with self._missing_table():
            item.save(condition=DecisionItem.id.does_not_exist())
        return _decision(item)

    def transition(
        self,
        decision_id: str,
        *,
        source: DecisionState,
        target: DecisionState,
        event: str,
        now: datetime,
        actor: str | None = None,
        reason: str | None = None,
        keep_until: datetime | None = None,
        unexpired: bool = False,
        channel: str | None = None,
        message_ts: str | None = None,
    ) -> Decision:
        """Move one decision from `source` to `target` atomically, or raise AlreadyDecided.

        With `unexpired`, the row must not have expired; with `channel`/`message_ts`, the
        record must belong to that Slack message. All checks are part of the one write.
        """
        item = DecisionItem(id=decision_id)
        condition = DecisionItem.id.exists() & (DecisionItem.state == source.value)
        if unexpired:
            condition &= DecisionItem.expires_at > now
        if channel is not None:
            condition &= DecisionItem.channel == channel
        if message_ts is not None:
            condition &= DecisionItem.message_ts == message_ts
        actions: list[Any] = [
            DecisionItem.state.set(target.value),
            DecisionItem.updated_at.set(now),
            DecisionItem.seq.add(1),
            DecisionItem.outbox.set(OUTBOX),
            DecisionItem.outcome.set(reason) if reason else DecisionItem.outcome.remove(),
        ]
        if actor is not None:
            actions.append(DecisionItem.actor.set(actor))
        if target.terminal:
            actions.append(DecisionItem.decided_at.set(now))
            expiry = keep_until if keep_until is not None else now + HISTORY
            actions.append(DecisionItem.ttl.set(max(expiry, now + timedelta(days=1))))
        if keep_until is not None:
            actions.append(DecisionItem.keep_until.set(keep_until))
        # The state machine is linear, so the source state fixes the event's sequence number.
        seq = _SEQ_BEFORE[source]
        new_event = _event(seq + 1, event, now, actor, target, reason)
        actions.append(DecisionItem.events.set((DecisionItem.events | []).append([new_event])))
        try:
            with self._missing_table():
                item.update(actions=actions, condition=condition & (DecisionItem.seq == seq))
        except UpdateError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise AlreadyDecided(self.get(decision_id)) from None
            raise
        return _decision(item)

    def note_error(self, decision_id: str, error: str, now: datetime) -> None:
        """Record a failure of work done for this decision (shown by status, read by the sweep).

        Not a transition: the state stays what it is, and the sweep settles it from AWS.
        """
        item = DecisionItem(id=decision_id)
        with self._missing_table():
            try:
                item.update(
                    actions=[DecisionItem.last_error.set(f"{now.isoformat()} {error}"[:1000])],
                    condition=DecisionItem.id.exists(),
                )
            except UpdateError as failed:
                if _code(failed) != "ConditionalCheckFailedException":
                    raise

    def mark_published(self, decision_id: str, seq: int) -> None:
        """Record that events up to `seq` are in S3; leave the outbox if more arrived since."""
        item = DecisionItem(id=decision_id)
        try:
            item.update(
                actions=[DecisionItem.published_seq.set(seq), DecisionItem.outbox.remove()],
                condition=(DecisionItem.seq == seq) & (DecisionItem.published_seq < seq),
            )
        except UpdateError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            try:
                item.update(
                    actions=[DecisionItem.published_seq.set(seq)],
                    condition=DecisionItem.published_seq < seq,
                )
            except UpdateError as again:
                if _code(again) != "ConditionalCheckFailedException":
                    raise

    # -- helpers --------------------------------------------------------------------------

    def _query(self, results: Iterable[DecisionItem]) -> Iterator[DecisionItem]:
        with self._missing_table():
            yield from results

    @contextmanager
    def _missing_table(self) -> Iterator[None]:
        """A missing table is a set-up step not taken, not a fault: say which step."""
        try:
            yield
        except TableDoesNotExist as error:
            raise self._not_ready() from error
        except PynamoDBException as error:
            if _code(error) == "ResourceNotFoundException":
                raise self._not_ready() from error
            raise

    def _not_ready(self) -> StoreNotReady:
        return StoreNotReady(f"DynamoDB table {self.table} does not exist: run `python -m reaper init`")


def _code(error: PynamoDBException) -> str | None:
    """The DynamoDB error code behind a pynamodb error; None when DynamoDB never answered.

    pynamodb's own `cause_response_code` raises AttributeError for a timeout: botocore's
    ReadTimeoutError carries `response = None` (from requests), not a missing attribute.
    """
    response = getattr(error.cause, "response", None)
    details = response.get("Error") if isinstance(response, dict) else None
    code = details.get("Code") if isinstance(details, dict) else None
    return str(code) if code is not None else None


def _event(
    seq: int, event: str, at: datetime, actor: str | None, state: DecisionState, reason: str | None
) -> EventMap:
    return EventMap(seq=seq, event=event, at=at, actor=actor, state=state.value, reason=reason)


def _item(d: Decision) -> DecisionItem:
    return DecisionItem(
        id=d.id,
        instance_id=d.instance_id,
        region=d.region,
        name=d.name,
        state=d.state.value,
        created_at=d.created_at,
        updated_at=d.created_at,
        expires_at=d.expires_at,
        channel=d.channel,
        message_ts=d.message_ts,
        actor=d.actor,
        decided_at=d.decided_at,
        keep_until=d.keep_until,
        outcome=d.outcome,
        seq=d.seq,
        published_seq=d.published_seq,
        ttl=(d.keep_until or d.expires_at) + HISTORY,
    )


def _decision(i: DecisionItem) -> Decision:
    return Decision(
        id=i.id,
        instance_id=i.instance_id,
        region=i.region,
        name=i.name or "",
        state=DecisionState(i.state),
        created_at=i.created_at,
        expires_at=i.expires_at,
        channel=i.channel,
        message_ts=i.message_ts,
        actor=i.actor,
        decided_at=i.decided_at,
        updated_at=i.updated_at,
        last_error=i.last_error,
        keep_until=i.keep_until,
        outcome=i.outcome,
        seq=int(i.seq or 0),
        published_seq=int(i.published_seq or 0),
        events=tuple(e.as_dict() for e in (i.events or [])),
    )
