"""DynamoDB gateway (pynamodb): reaper.ports.DecisionStore, the state machine as conditional writes.

One item per decision, keyed by an opaque random id — the only thing a Slack button carries.
Every transition is a conditional UpdateItem on the current state, so of two concurrent
clicks exactly one wins. Each transition appends an audit event to the item in the same
write; ``published_seq`` tracks how many of them reached S3, and the sparse ``outbox``
attribute (with its index) lists the items whose events still have to be published.
Settled decisions expire after HISTORY (DynamoDB TTL), except stops: they carry what the
stop saves, and the savings since install are summed from them.

IAM: dynamodb:GetItem, PutItem, UpdateItem, Query, BatchWriteItem on the table and its indexes.
"""

from __future__ import annotations

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
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TableDoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from reaper.aws.clients import error_text
from reaper.errors import AlreadyDecided, AwsError, DecisionNotFound, StoreNotReady
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
DECIDED = (DecisionState.STOPPING, DecisionState.STOPPED, DecisionState.SKIPPED, DecisionState.FAILED,
           DecisionState.KEPT, DecisionState.WOULD_STOP)
_SEQ_BEFORE = {DecisionState.PENDING: 0, DecisionState.STOPPING: 1}


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
    """The table's schema. Each DecisionStore binds it to its own table through a subclass (see _bound):
    pynamodb configures a model at class level, so binding this class would be shared by every store."""

    class Meta:
        table_name = "instance-reaper"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    instance_id = UnicodeAttribute()
    region = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    instance_type = UnicodeAttribute(null=True)
    launch_time = UTCDateTimeAttribute(null=True)
    state = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    channel = UnicodeAttribute(null=True)
    message_ts = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    keep_until = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True, attr_name="outcome")  # its name in tables written before the rename
    seq = NumberAttribute(default=0)
    published_seq = NumberAttribute(default=0)
    events = ListAttribute(of=EventMap, default=list)
    outbox = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    hourly_saving = NumberAttribute(null=True)  # USD an hour a stop saves (list price when offered)
    saving_ended_at = UTCDateTimeAttribute(null=True)  # the stopped instance ran again from then
    # Issue 14: the newer row that closed this one, reports in a row offering the instance, idle since.
    superseded_by = UnicodeAttribute(null=True)
    copy_of = UnicodeAttribute(null=True)  # an owner's DM row: the channel row it repeats (issue 14)
    reports = NumberAttribute(null=True)
    idle_since = UTCDateTimeAttribute(null=True)
    # Grace-period stop (issue 15, part 4): consecutive unanswered reports, and the announced deadline.
    unanswered = NumberAttribute(null=True)
    auto_stop_at = UTCDateTimeAttribute(null=True)
    owner = UnicodeAttribute(null=True)  # the owner tag value the row was offered with (issue 14)
    account = UnicodeAttribute(null=True)  # many accounts (issue 15): the member account; absent: this one
    account_name = UnicodeAttribute(null=True)

    by_state = StateIndex()
    by_outbox = OutboxIndex()


def _bound(table: str, region: str, host: str | None, timeouts: Timeouts) -> type[DecisionItem]:
    # pynamodb builds its own botocore client from these Meta settings, not from ours.
    meta = type("Meta", (), {
        "table_name": table,
        "region": region,
        "host": host,
        "billing_mode": "PAY_PER_REQUEST",
        "connect_timeout_seconds": timeouts.connect,
        "read_timeout_seconds": timeouts.read,
        "max_retry_attempts": timeouts.attempts - 1,  # retries after the first attempt
    })
    return type("BoundDecisionItem", (DecisionItem,), {"Meta": meta, "__module__": __name__})


class DynamoDecisionStore:
    """reaper.ports.DecisionStore on one DynamoDB table, through pynamodb.

    pynamodb's errors leave as the core's: StoreNotReady for a missing table, AwsError for the rest.
    """

    def __init__(
        self, table: str, region: str, host: str | None = None, timeouts: Timeouts = LAMBDA_TIMEOUTS
    ) -> None:
        self.table = table
        self._model = _bound(table, region, host, timeouts)

    @property
    def client(self) -> Any:
        """The botocore client pynamodb uses for this table (for botocore event hooks)."""
        return self._model._get_connection().connection.client

    # -- set-up ---------------------------------------------------------------------------

    def ensure_table(self) -> bool:
        """Create the table (with TTL) if missing; True when created."""
        with self._translated():
            if self._model.exists():
                return False
            self._model.create_table(wait=True)
        return True

    def check_table(self) -> None:
        """Raise StoreNotReady unless the table answers: a start-up check for long-running processes.

        A one-item Query on the state index: it needs only dynamodb:Query, which the code
        already declares (DescribeTable would need one more permission).
        """
        next(self._query(self._model.by_state.query(DecisionState.KEPT.value, limit=1)), None)

    # -- reads ----------------------------------------------------------------------------

    def get(self, decision_id: str) -> Decision:
        with self._translated():
            try:
                return _decision(self._model.get(decision_id, consistent_read=True))
            except DoesNotExist:
                raise DecisionNotFound(decision_id) from None

    def active_keeps(self, now: datetime, instance_id: str | None = None) -> set[tuple[str, str]]:
        """(region, instance_id) of every Keep that has not expired yet."""
        condition = DecisionItem.keep_until > now
        if instance_id is not None:
            condition &= DecisionItem.instance_id == instance_id
        items = self._query(self._model.by_state.query(DecisionState.KEPT.value, filter_condition=condition))
        return {(i.region, i.instance_id) for i in items}

    def recent(self, limit: int = 10) -> list[Decision]:
        """The latest decisions people made: stops (under way or settled) and keeps, newest first.

        Report rows nobody acted on (pending, expired) are not decisions: a week of daily
        reports would otherwise fill the list with expired rows and hide the real ones.
        """
        found: list[DecisionItem] = []
        for state in DECIDED:
            found.extend(self._query(
                self._model.by_state.query(state.value, scan_index_forward=False, limit=limit)
            ))
        found.sort(key=lambda i: i.updated_at, reverse=True)
        return [_decision(i) for i in found[:limit]]

    def in_state(self, state: DecisionState, updated_before: datetime | None = None) -> list[Decision]:
        condition = DecisionItem.updated_at < updated_before if updated_before else None
        return [_decision(i) for i in self._query(self._model.by_state.query(state.value, condition))]

    def unpublished(self) -> list[Decision]:
        return [_decision(i) for i in self._query(self._model.by_outbox.query(OUTBOX))]

    def events(self, decision_id: str) -> list[dict[str, Any]]:
        with self._translated():
            item = self._model.get(decision_id, consistent_read=True)
        return [e.as_dict() for e in item.events]

    # -- writes ---------------------------------------------------------------------------

    def add_rows(self, rows: Iterable[Decision]) -> None:
        """Record report rows (state pending) in as few BatchWriteItem calls as possible."""
        with self._translated(), self._model.batch_write() as batch:
            for row in rows:
                batch.save(self._item(row))

    def create(self, decision: Decision) -> Decision:
        """Insert a decision that never existed (a CLI stop or keep)."""
        item = self._item(decision)
        with self._translated():
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
        superseded_by: str | None = None,
    ) -> Decision:
        """Move one decision from `source` to `target` atomically, or raise AlreadyDecided.

        With `unexpired`, the row must not have expired; with `channel`/`message_ts`, the
        record must belong to that Slack message. All checks are part of the one write.
        """
        item = self._model(id=decision_id)
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
            DecisionItem.reason.set(reason) if reason else DecisionItem.reason.remove(),
        ]
        if actor is not None:
            actions.append(DecisionItem.actor.set(actor))
        if target is DecisionState.STOPPED:
            # A stop is kept for good: the savings since install are summed from these records.
            actions.append(DecisionItem.decided_at.set(now))
            actions.append(DecisionItem.ttl.remove())
        elif target.terminal:
            actions.append(DecisionItem.decided_at.set(now))
            expiry = keep_until if keep_until is not None else now + HISTORY
            actions.append(DecisionItem.ttl.set(max(expiry, now + timedelta(days=1))))
        if keep_until is not None:
            actions.append(DecisionItem.keep_until.set(keep_until))
        if superseded_by is not None:
            actions.append(DecisionItem.superseded_by.set(superseded_by))
        # The state machine is linear, so the source state fixes the event's sequence number.
        seq = _SEQ_BEFORE[source]
        new_event = _event(seq + 1, event, now, actor, target, reason)
        actions.append(DecisionItem.events.set((DecisionItem.events | []).append([new_event])))
        try:
            with self._translated(conditional=True):
                item.update(actions=actions, condition=condition & (DecisionItem.seq == seq))
        except _ConditionFailed:
            raise AlreadyDecided(self.get(decision_id)) from None
        return _decision(item)

    def note_error(self, decision_id: str, error: str, now: datetime) -> None:
        """Record a failure of work done for this decision (shown by status, read by the sweep).

        Not a transition: the state stays what it is, and the sweep settles it from AWS.
        """
        item = self._model(id=decision_id)
        try:
            with self._translated(conditional=True):
                item.update(
                    actions=[DecisionItem.last_error.set(f"{now.isoformat()} {error}"[:1000])],
                    condition=DecisionItem.id.exists(),
                )
        except _ConditionFailed:
            pass  # no such decision: nothing to note it on

    def end_saving(self, decision_id: str, at: datetime) -> None:
        """The stopped instance runs again since `at`; only the first end is recorded."""
        item = self._model(id=decision_id)
        try:
            with self._translated(conditional=True):
                item.update(
                    actions=[DecisionItem.saving_ended_at.set(at)],
                    condition=DecisionItem.id.exists() & DecisionItem.saving_ended_at.does_not_exist(),
                )
        except _ConditionFailed:
            pass  # ended already (or no such decision): the first end stands

    def mark_published(self, decision_id: str, seq: int) -> None:
        """Record that events up to `seq` are in S3; leave the outbox if more arrived since."""
        item = self._model(id=decision_id)
        try:
            with self._translated(conditional=True):
                item.update(
                    actions=[DecisionItem.published_seq.set(seq), DecisionItem.outbox.remove()],
                    condition=(DecisionItem.seq == seq) & (DecisionItem.published_seq < seq),
                )
        except _ConditionFailed:
            try:
                with self._translated(conditional=True):
                    item.update(
                        actions=[DecisionItem.published_seq.set(seq)],
                        condition=DecisionItem.published_seq < seq,
                    )
            except _ConditionFailed:
                pass  # a later call already recorded as much

    # -- helpers --------------------------------------------------------------------------

    def _item(self, d: Decision) -> DecisionItem:
        return self._model(
            id=d.id,
            instance_id=d.instance_id,
            region=d.region,
            name=d.name,
            instance_type=d.instance_type,
            launch_time=d.launch_time,
            state=d.state.value,
            created_at=d.created_at,
            updated_at=d.created_at,
            expires_at=d.expires_at,
            channel=d.channel,
            message_ts=d.message_ts,
            actor=d.actor,
            decided_at=d.decided_at,
            keep_until=d.keep_until,
            reason=d.reason,
            seq=d.seq,
            published_seq=d.published_seq,
            ttl=(d.keep_until or d.expires_at) + HISTORY,
            hourly_saving=d.hourly_saving,
            saving_ended_at=d.saving_ended_at,
            superseded_by=d.superseded_by,
            copy_of=d.copy_of,
            reports=d.reports,
            idle_since=d.idle_since,
            unanswered=d.unanswered or None,
            auto_stop_at=d.auto_stop_at,
            owner=d.owner,
            account=d.account,
            account_name=d.account_name,
        )

    def _query(self, results: Iterable[DecisionItem]) -> Iterator[DecisionItem]:
        with self._translated():
            yield from results

    @contextmanager
    def _translated(self, *, conditional: bool = False) -> Iterator[None]:
        """pynamodb's errors as the core's. A missing table is a set-up step not taken, not a
        fault: say which step. With `conditional`, a failed condition raises _ConditionFailed."""
        try:
            yield
        except TableDoesNotExist as error:
            raise self._not_ready() from error
        except PynamoDBException as error:
            code = _code(error)
            if code == "ResourceNotFoundException":
                raise self._not_ready() from error
            if conditional and code == "ConditionalCheckFailedException":
                raise _ConditionFailed from error
            raise AwsError(f"DynamoDB: {_message(error)}", code) from error

    def _not_ready(self) -> StoreNotReady:
        return StoreNotReady(f"DynamoDB table {self.table} does not exist: run `python -m reaper init`")


class _ConditionFailed(Exception):
    """A conditional write's condition did not hold (internal to this gateway)."""


def _code(error: PynamoDBException) -> str | None:
    # pynamodb's own cause_response_code raises AttributeError for a cause without a response
    # (a connection that never answered), so read the botocore error defensively.
    response = getattr(error.cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def _message(error: PynamoDBException) -> str:
    """One line: AWS's code and message, or why nothing answered (a timeout, a refused connection)."""
    cause = error.cause
    return error_text(cause) if isinstance(cause, Exception) else str(error)


def _event(
    seq: int, event: str, at: datetime, actor: str | None, state: DecisionState, reason: str | None
) -> EventMap:
    return EventMap(seq=seq, event=event, at=at, actor=actor, state=state.value, reason=reason)


def _decision(i: DecisionItem) -> Decision:
    return Decision(
        id=i.id,
        instance_id=i.instance_id,
        region=i.region,
        name=i.name or "",
        instance_type=i.instance_type,
        launch_time=i.launch_time,
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
        reason=i.reason,
        seq=int(i.seq or 0),
        published_seq=int(i.published_seq or 0),
        events=tuple(e.as_dict() for e in (i.events or [])),
        hourly_saving=None if i.hourly_saving is None else float(i.hourly_saving),
        saving_ended_at=i.saving_ended_at,
        superseded_by=i.superseded_by,
        copy_of=i.copy_of,
        reports=int(i.reports or 1),
        idle_since=i.idle_since,
        unanswered=int(i.unanswered or 0),
        auto_stop_at=i.auto_stop_at,
        owner=i.owner,
        account=i.account,
        account_name=i.account_name,
    )
