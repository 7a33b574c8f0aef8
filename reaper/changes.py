"""What changed since the last report: new or still idle rows, what became of the last ones, one live row each.

A report offers each idle instance on a row with Stop and Keep. Without this, every daily
report offered the same instances again beside yesterday's still-live rows, and nobody could
tell what was new. The judgement, made over the decision store:

* The *last report* is the report rows still pending (a report's rows outlive the next daily report:
  REAPER_ROW_DAYS is 3 by default). An instance offered now with a pending row of its own is
  **still idle**: its new row counts one more report and keeps the day it has been idle since;
  any other is **new**. A pending row that expired but that the repair sweep has not closed yet
  counts too: nobody answered it, and the instance was offered.
* **Since the last report** (from the newest of those rows' creation; a day back when there
  are none): the stops and Keeps people recorded, and the instances of the last report that
  this scan judged busy ("busy again").
* **One live row per instance**: once the new rows are recorded with their message, each older
  pending row of the same instance is closed, pending → superseded, by the same conditional
  write a click uses; a click that wins the race stands (the row is left as its clicker made
  it). The caller then replaces those rows' buttons with a pointer to the newer report. The
  one exception is a row with an announced grace-period stop (reaper.grace): it stays live
  until its deadline, since the repair sweep carries out the stop on that row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from reaper.errors import AlreadyDecided, ReaperError
from reaper.model import Decision, DecisionState, Finding, ScanReport, VerdictKind
from reaper.ports import Services

log = logging.getLogger(__name__)

# How far back the summary looks when no earlier report row is known (a daily report).
DEFAULT_SINCE = timedelta(days=1)
# Decisions read for the summary: far more than a day's stops and Keeps.
RECENT_DECISIONS = 200

Key = tuple[str, str]  # (region, instance id)


@dataclass(frozen=True)
class Summary:
    """What happened to the last report's instances since it was posted."""

    since: datetime
    stopped: int = 0
    kept: int = 0
    busy_again: tuple[str, ...] = ()  # instance ids offered last time that this scan judged busy

    @property
    def quiet(self) -> bool:
        return not (self.stopped or self.kept or self.busy_again)


@dataclass(frozen=True)
class Changes:
    """A report's rows as they relate to the last report, and the last report's pending rows."""

    summary: Summary
    previous: Mapping[Key, tuple[Decision, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def is_new(self, finding: Finding) -> bool:
        return _key_of(finding) not in self.previous

    def order(self, findings: Sequence[Finding]) -> list[Finding]:
        """New rows first, then the still idle ones, each in the order given (stable)."""
        return sorted(findings, key=lambda f: not self.is_new(f))

    def carry(self, rows: Iterable[Decision], findings: Sequence[Finding]) -> list[Decision]:
        """The new rows with the reports counted and the idle-since day carried from the last ones.

        `rows` are decisions.propose's for `findings`, in the same order.
        """
        out = []
        for row, finding in zip(rows, findings, strict=True):
            earlier = self.previous.get((row.region, row.instance_id), ())
            if earlier:
                latest = max(earlier, key=lambda d: d.created_at)
                since = min((d.idle_since or d.created_at for d in earlier), default=None)
                out.append(replace(row, reports=latest.reports + 1, idle_since=since))
            else:
                days = finding.verdict.evidence.days_observed
                out.append(replace(row, reports=1, idle_since=_midnight(row.created_at) - timedelta(days=days)))
        return out


def what_changed(services: Services, report: ScanReport) -> Changes:
    """Judge the report against the store: read before the report's own rows are recorded."""
    now = services.clock()
    previous: dict[Key, list[Decision]] = {}
    for row in services.store.in_state(DecisionState.PENDING):
        if row.channel and row.message_ts:  # a report's row (a CLI decision has no message)
            previous.setdefault((row.region, row.instance_id), []).append(row)
    since = max((d.created_at for rows in previous.values() for d in rows), default=now - DEFAULT_SINCE)
    decided = [d for d in services.store.recent(RECENT_DECISIONS) if (d.decided_at or d.updated_at or now) > since]
    busy_again = tuple(sorted(
        f.instance.instance_id for f in report.findings
        if f.verdict.kind is VerdictKind.BUSY and _key_of(f) in previous
    ))
    summary = Summary(
        since=since,
        stopped=sum(1 for d in decided if d.state is DecisionState.STOPPED),
        kept=sum(1 for d in decided if d.state is DecisionState.KEPT),
        busy_again=busy_again,
    )
    return Changes(summary, MappingProxyType({k: tuple(v) for k, v in previous.items()}))


@dataclass
class Superseded:
    """The rows a newer report closed (with `superseded_by` set), and the ones that could not be."""

    closed: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def supersede(services: Services, changes: Changes, rows: Iterable[Decision]) -> Superseded:
    """Close the older pending rows of every instance these recorded rows offer again.

    Each close is one conditional write (pending → superseded); a row someone answered in the
    meantime keeps their answer. A failed write is reported, not raised: the newer report
    stands, and the older row's button still works until it expires or is answered.
    """
    done = Superseded()
    now = services.clock()
    for row in rows:
        for older in changes.previous.get((row.region, row.instance_id), ()):
            if older.id == row.id or older.auto_stop_at is not None:
                # An announced grace-period stop (reaper.grace) stays live: the sweep acts on that
                # pending row at its deadline, and closing it would cancel the stop unannounced.
                continue
            try:
                done.closed.append(services.store.transition(
                    older.id, source=DecisionState.PENDING, target=DecisionState.SUPERSEDED,
                    event="superseded", now=now, reason="offered again in a newer report",
                    superseded_by=row.id,
                ))
            except AlreadyDecided:
                continue  # answered (or closed) meanwhile: that stands
            except ReaperError as error:
                log.warning("row %s not superseded by %s: %s", older.id, row.id, error)
                done.errors.append(f"{older.id}: {error}")
    return done


def _key_of(finding: Finding) -> Key:
    return finding.instance.region, finding.instance.instance_id


def _midnight(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)
