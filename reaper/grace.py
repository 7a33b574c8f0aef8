"""The grace-period stop (issue 15, part 4): mark → notify → wait → re-check → act, for reports nobody answers.

Off by default. With REAPER_AUTO_STOP_AFTER=N (or an instance tagged ``reaper:auto-stop=true``),
an instance offered in N consecutive reports without anyone pressing Stop or Keep is
*announced* in the N-th report: its row says it will be stopped 24 hours later unless someone
presses Keep, and the report's thread lists it. The repair sweep stops it at (or after) that
deadline through the same claim → re-check → stop path as a click (reaper.decisions), with
the actor "reaper (unanswered for N reports)". The claim's conditional write makes it happen
at most once, whoever else races for the row.

What cancels it: any Keep (on the announced row, which then is no longer pending, or on
any other row of the instance: an active Keep), the instance turning busy since the report
(the re-check's ``busy_since``), ``reaper:auto-stop=false`` or the setting turned off by the
deadline, and a sweep that comes more than ``LATE_BY`` after the deadline (the next report
announces it again, with a new deadline). A Stop click before the deadline simply wins.

Counting reports. A report row is *unanswered* while it is pending, once it expired, or once a
newer report superseded it (reaper.changes); any
other state (stopped, kept, skipped, failed, would stop) is an answer and ends the count. The
count walks the instance's rows newest first and stops at the first answer, or at a gap
longer than the lookback window between two rows: an instance that is idle now was idle on
every day of the window, so a report within it that did not offer the instance left it out
for some other reason (a failed region, a Keep that has since expired ends the count anyway),
while a longer gap says nothing. Reading the rows costs one Query per decision state on the
state index — only for a report that has an instance the grace period applies to.

History. Whatever the lookback, an instance is announced only with at least
``MIN_HISTORY_DAYS`` days of CloudWatch history (issue 16: a quiet fortnight is enough to
offer a stop to a person, not to stop without one). The scan's evidence proves it when it
observed that many days (a lookback of 30 or more); otherwise one GetMetricData call per 125
candidates reads the last 31 whole days, and the history is long enough when CloudWatch has
CPU data on a day at least 30 days before today.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from reaper import decisions
from reaper.accounts import ec2_for, metrics_for
from reaper.errors import ReaperError
from reaper.model import Decision, DecisionState, Finding, Instance, Result
from reaper.policy import midnight, window
from reaper.ports import Services
from reaper.settings import AUTO_STOP_AFTER_DEFAULT

log = logging.getLogger(__name__)

AUTO_STOP_TAG = "reaper:auto-stop"
GRACE = timedelta(hours=24)  # from the announcing report to the stop
LATE_BY = timedelta(hours=1)  # a stop the sweep did not reach within this of its deadline is dropped
MIN_HISTORY_DAYS = 30
# A superseded row (reaper.changes: a newer report offered the instance again) went unanswered too.
UNANSWERED = (DecisionState.PENDING, DecisionState.EXPIRED, DecisionState.SUPERSEDED)


def actor(unanswered: int) -> str:
    """Who a grace-period stop is recorded as having been asked by."""
    return f"reaper (unanswered for {unanswered} reports)"


def threshold(instance: Instance, auto_stop_after: int | None) -> int | None:
    """After how many unanswered reports this instance is stopped; None: never.

    The tag ``reaper:auto-stop`` (key in any case, as the exempt tag) overrides the setting:
    ``true`` opts the instance in (with REAPER_AUTO_STOP_AFTER, or AUTO_STOP_AFTER_DEFAULT
    when that is off), ``false`` out; any other value leaves the setting to decide.
    """
    value = next((v for k, v in instance.tags.items() if k.strip().lower() == AUTO_STOP_TAG), None)
    choice = (value or "").strip().lower()
    if choice == "false":
        return None
    if choice == "true":
        return auto_stop_after or AUTO_STOP_AFTER_DEFAULT
    return auto_stop_after


@dataclass(frozen=True)
class Schedule:
    """A report's rows as they are to be recorded, and what the grace period made of them.

    `announced` rows carry their deadline (`auto_stop_at`); `refused` are rows that reached
    their count but are not announced, with why (too little history).
    """

    rows: list[Decision]
    announced: list[Decision] = field(default_factory=list)
    refused: list[tuple[Decision, str]] = field(default_factory=list)


def schedule(services: Services, offered: Sequence[tuple[Finding, Decision]]) -> Schedule:
    """Count each offered instance's unanswered reports, this one included, and announce those at their count.

    Costs nothing when the grace period applies to none of them. The rows are not recorded
    here (the caller records them with their message), so a report that is never posted
    announces nothing; nothing here can fail a report (what cannot be read announces nothing).
    """
    settings = services.settings
    limits = {d.id: threshold(f.instance, settings.auto_stop_after) for f, d in offered}
    if not any(limits.values()):
        return Schedule([d for _, d in offered])
    now = services.clock()
    try:
        history = _rows_by_instance(services, {(d.region, d.instance_id) for _, d in offered})
    except ReaperError as error:
        # The report matters more than the grace period: it goes out, announcing nothing today.
        log.warning("earlier report rows not read (%s): no grace-period stop announced in this report", error)
        return Schedule([d for _, d in offered])
    counted: dict[str, Decision] = {}
    candidates: list[tuple[Finding, Decision]] = []
    for finding, row in offered:
        earlier = history.get((row.region, row.instance_id), [])
        row = replace(row, unanswered=_streak(row, earlier, settings.policy.lookback_days))
        counted[row.id] = row
        limit = limits[row.id]
        already = any(d.state is DecisionState.PENDING and d.auto_stop_at is not None for d in earlier)
        if limit is not None and row.unanswered >= limit and not already:
            candidates.append((finding, row))
    short = _short_history(services, candidates, now)
    result = Schedule([])
    deadline = now + GRACE
    for finding, row in candidates:
        if finding.instance.instance_id in short:
            result.refused.append((row, f"less than {MIN_HISTORY_DAYS} days of CloudWatch history"))
            continue
        announced = replace(row, auto_stop_at=deadline, expires_at=max(row.expires_at, deadline + LATE_BY))
        counted[row.id] = announced
        result.announced.append(announced)
    result.rows.extend(counted[d.id] for _, d in offered)
    return result


def _rows_by_instance(services: Services, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], list[Decision]]:
    """Every recorded row of these instances, newest first."""
    found: dict[tuple[str, str], list[Decision]] = {}
    for state in DecisionState:
        for decision in services.store.in_state(state):
            key = (decision.region, decision.instance_id)
            if key in wanted:
                found.setdefault(key, []).append(decision)
    for rows in found.values():
        rows.sort(key=lambda d: d.created_at, reverse=True)
    return found


def _streak(row: Decision, earlier: Sequence[Decision], lookback_days: int) -> int:
    """Consecutive unanswered reports of the instance, ending with `row` (this report counts as one)."""
    count, newer = 1, row.created_at
    gap = timedelta(days=lookback_days)
    for decision in earlier:
        if decision.created_at >= newer or decision.copy_of is not None:
            continue  # a row of this same report, one recorded while it was made, or an owner's copy of one
        if decision.state not in UNANSWERED or newer - decision.created_at > gap:
            break
        count += 1
        newer = decision.created_at
    return count


def _short_history(services: Services, candidates: Sequence[tuple[Finding, Decision]], now: datetime) -> set[str]:
    """The candidates with less than MIN_HISTORY_DAYS days of CloudWatch history; the scan's evidence first.

    A region whose history cannot be read counts its candidates as short: the grace period
    waits for a report that can prove it, it never assumes it.
    """
    unproven: dict[tuple[str | None, str], list[str]] = {}  # (member account or None, region) → ids
    for finding, _ in candidates:
        if finding.verdict.evidence.days_observed < MIN_HISTORY_DAYS:
            unproven.setdefault((finding.instance.account, finding.instance.region), []).append(
                finding.instance.instance_id)
    start, end = window(now, MIN_HISTORY_DAYS + 1)
    oldest_needed = (midnight(now) - timedelta(days=MIN_HISTORY_DAYS)).date()
    short: set[str] = set()
    for (account, region), ids in unproven.items():
        try:
            usage = metrics_for(services, region, account).daily_usage(ids, start, end)
        except ReaperError as error:
            log.warning("CloudWatch history in %s not read (%s): no grace-period stop announced there", region, error)
            short.update(ids)
            continue
        for instance_id in ids:
            days = [d.day for d in usage.get(instance_id, []) if d.cpu_percent is not None]
            if not days or min(days) > oldest_needed:
                short.add(instance_id)
    return short


# -- at the deadline: the repair sweep ------------------------------------------------------------


def due(pending: Iterable[Decision], now: datetime) -> list[Decision]:
    """The announced rows whose deadline has come and not long passed (LATE_BY)."""
    return [d for d in pending
            if d.state is DecisionState.PENDING and d.auto_stop_at is not None
            and d.auto_stop_at <= now < d.auto_stop_at + LATE_BY and d.expires_at > now]


def execute(services: Services, decision: Decision) -> Result | None:
    """Stop an announced instance as a click would; None when it was called off before the claim.

    Called off, without touching the row (its Stop button stays valid): the instance is
    gone or no longer running, opted out by its tag or by the setting since the announcement, or someone pressed
    Keep on another of its rows. Everything else (busy since the report, a changed instance,
    a Stop or Keep on this row that won the claim) is the click path's own re-check.
    """
    instance = ec2_for(services, decision.region, decision.account).describe(decision.instance_id)
    if instance is None or instance.state != "running":
        # Gone, or stopped already (a Stop on an earlier row of it, its owner): nothing left to do.
        log.info("grace-period stop of %s called off: the instance is %s", decision.instance_id,
                 instance.state if instance else "gone")
        return None
    if threshold(instance, services.settings.auto_stop_after) is None:
        log.info("grace-period stop of %s called off: %s=false or REAPER_AUTO_STOP_AFTER off",
                 decision.instance_id, AUTO_STOP_TAG)
        return None
    if (decision.region, decision.instance_id) in services.store.active_keeps(services.clock(), decision.instance_id):
        log.info("grace-period stop of %s called off: kept by a team member", decision.instance_id)
        return None
    return decisions.stop(services, decision.id, actor(decision.unanswered))
