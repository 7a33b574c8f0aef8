"""Savings to date: what every stop has saved, from the stop until the instance runs again.

A stop decision carries what it saves an hour (the list price known when its row was
offered, reaper.cost). It accrues from the moment the stop was recorded (`decided_at`)
until the instance runs again, or until now. Whether it runs again is checked when reports
run: a scan sees every running instance for free, and one whose LaunchTime is after its
stop was started again at that LaunchTime, which ends the accrual (`settle`). Nothing is
counted for stops whose saving was not known: they are told apart (`unpriced`), never $0.

Limit: the scan sees running instances only, so a stopped instance that is later terminated
is never seen again, and its stop goes on accruing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, time

from reaper.model import Decision, DecisionState, Instance
from reaper.money import Savings
from reaper.ports import Services

log = logging.getLogger(__name__)


def settle(services: Services, running: Iterable[Instance]) -> Savings:
    """End the accrual of every stop whose instance runs again, then add up what stops have saved."""
    now = services.clock()
    stops = services.store.in_state(DecisionState.STOPPED)
    by_instance = {(i.region, i.instance_id): i for i in running}
    settled: list[Decision] = []
    for stop in stops:
        instance = by_instance.get((stop.region, stop.instance_id))
        if (instance is not None and stop.hourly_saving is not None and stop.saving_ended_at is None
                and stop.decided_at is not None and instance.launch_time > stop.decided_at):
            services.store.end_saving(stop.id, instance.launch_time)
            log.info("%s runs again since %s: its stop (decision %s) saves nothing after that",
                     stop.instance_id, instance.launch_time.isoformat(), stop.id)
            stop = replace(stop, saving_ended_at=instance.launch_time)
        settled.append(stop)
    return add_up(settled, now)


def summary(services: Services) -> Savings:
    """What stops have saved so far (as of the last report's check for restarts)."""
    return add_up(services.store.in_state(DecisionState.STOPPED), services.clock())


def add_up(stops: Iterable[Decision], now: datetime) -> Savings:
    month_start = datetime.combine(now.date().replace(day=1), time(0), tzinfo=now.tzinfo)
    total = this_month = 0.0
    by_approver: dict[str, float] = {}
    count = accruing = unpriced = 0
    since: datetime | None = None
    for stop in stops:
        if stop.state is not DecisionState.STOPPED or stop.decided_at is None:
            continue
        count += 1
        since = stop.decided_at if since is None else min(since, stop.decided_at)
        if stop.hourly_saving is None:
            unpriced += 1
            continue
        end = min(stop.saving_ended_at or now, now)
        accruing += stop.saving_ended_at is None
        saved = stop.hourly_saving * _hours(stop.decided_at, end)
        total += saved
        this_month += stop.hourly_saving * _hours(max(stop.decided_at, month_start), end)
        who = stop.actor or "someone"
        by_approver[who] = by_approver.get(who, 0.0) + saved
    return Savings(total, this_month, by_approver, count, accruing, unpriced, since, now)


def _hours(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)
