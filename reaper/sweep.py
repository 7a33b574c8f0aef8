"""The repair sweep: finish what an interrupted run left behind. Idempotent, safe beside clicks.

* Decisions stuck in ``stopping`` (the process died, or StopInstances' answer was lost)
  are finished from the instance's real state: already stopping or stopped → stopped;
  gone → skipped; started again since the claim (LaunchTime after it: the stop went
  through and the owner started it again) → skipped, never stopped a second time; still
  running → the stop is re-checked as a click is and retried while the request is fresh,
  and failed once it is stale.
* Announced grace-period stops whose deadline has come are carried out (reaper.grace):
  claim → re-check → stop, as a click, asked by "reaper (unanswered for N reports)".
* Pending report rows past their expiry move to ``expired``; the caller removes their buttons.
* Decisions whose audit events never reached S3 are published (IfNoneMatch makes a
  repeat harmless).

Every change is the same conditional transition a click uses, so a click and the sweep
racing for one decision end with exactly one of them winning. Each decision is handled on
its own: one that fails is reported and the sweep goes on with the rest. A store that cannot
be listed at the start fails the sweep (AwsError) before it changed anything; the next run
starts over. Once the sweep has changed something, a later phase that fails is reported in
`errors` instead, so the caller still learns every row it finished or expired (and can take
their buttons off): those rows are never listed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from reaper import decisions, grace
from reaper.accounts import ec2_for
from reaper.errors import AlreadyDecided, AwsError, ReaperError
from reaper.model import Decision, DecisionState, Outcome, StopAttempt
from reaper.ports import Services

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=5)  # lazy work finishes in seconds; give it generous room
RETRY_WITHIN = timedelta(hours=1)  # after this, a stop nobody saw through is not retried


@dataclass
class SweepReport:
    finished: list[Decision] = field(default_factory=list)
    expired: list[Decision] = field(default_factory=list)
    published: int = 0
    unpublished: int = 0
    errors: list[str] = field(default_factory=list)
    auto_stopped: list[Decision] = field(default_factory=list)  # grace-period stops carried out (also in finished)

    def summary(self) -> str:
        return (
            f"finished {len(self.finished)} interrupted stop(s), expired {len(self.expired)} row(s), "
            + (f"{len(self.auto_stopped)} grace-period stop(s), " if self.auto_stopped else "")
            + f"published {self.published} audit record(s), {self.unpublished} still unpublished"
            + (f", {len(self.errors)} error(s)" if self.errors else "")
        )


def reconcile(services: Services, *, stuck_after: timedelta = STUCK_AFTER) -> SweepReport:
    report = SweepReport()
    now = services.clock()
    # Listing is all or nothing: a store that cannot be read fails the sweep (AwsError), and the
    # next run retries it. Each decision listed is then handled on its own.
    for decision in services.store.in_state(DecisionState.STOPPING, updated_before=now - stuck_after):
        try:
            finished = _finish_interrupted(services, decision)
        except ReaperError as error:
            report.errors.append(f"{decision.id}: {error}")
            continue
        if finished is not None:
            report.finished.append(finished)
    try:
        pending = services.store.in_state(DecisionState.PENDING)
    except ReaperError as error:
        pending = []
        report.errors.append(f"pending rows not listed: {error}")
    for decision in grace.due(pending, now):
        try:
            result = grace.execute(services, decision)
        except ReaperError as error:
            report.errors.append(f"{decision.id}: {error}")
            continue
        decided = None if result is None or result.outcome.refused else result.decision
        if decided is not None and decided.state.terminal:  # stopping: its answer was lost, the next sweep settles it
            report.finished.append(decided)
            report.auto_stopped.append(decided)
    for decision in pending:
        if decision.expires_at > now:
            continue
        try:
            report.expired.append(services.store.transition(
                decision.id, source=DecisionState.PENDING, target=DecisionState.EXPIRED,
                event="expired", now=now, reason="no decision before the row expired",
            ))
        except AlreadyDecided:
            continue  # someone clicked in the meantime: their decision stands
        except ReaperError as error:
            report.errors.append(f"{decision.id}: {error}")
    try:
        report.published, report.unpublished = decisions.publish_pending(services)
    except ReaperError as error:
        report.errors.append(f"unpublished decisions not listed: {error}")
    log.info("repair sweep: %s", report.summary())
    return report


def _finish_interrupted(services: Services, decision: Decision) -> Decision | None:
    instance = ec2_for(services, decision.region, decision.account).describe(decision.instance_id)
    if instance is None or instance.state in ("terminated", "shutting-down"):
        attempt = StopAttempt(DecisionState.SKIPPED, "the instance no longer exists")
    elif instance.state in ("stopping", "stopped") and services.settings.dry_run:
        # A dry run stops nothing: whoever stopped it, it was not this decision.
        attempt = StopAttempt(DecisionState.SKIPPED, f"the instance is already {instance.state} (DRY RUN: "
                                                     "the reaper stopped nothing)")
    elif instance.state in ("stopping", "stopped"):
        reason = f"EC2 reports the instance {instance.state} (recorded by the repair sweep)"
        attempt = StopAttempt(DecisionState.STOPPED, reason)
    elif (restarted := decisions.started_again(decision, instance)) is not None:
        attempt = restarted
    elif services.clock() - (decision.updated_at or decision.created_at) > RETRY_WITHIN:
        attempt = StopAttempt(DecisionState.FAILED, "the stop was interrupted and is too old to retry; scan again")
    else:
        retried = decisions.recheck_and_stop(services, decision)
        if retried is None:
            return None  # still no answer from EC2: leave it for the next sweep
        attempt = retried
    result = decisions.conclude(services, decision, attempt)
    if result.outcome is Outcome.ALREADY_DECIDED or result.decision is None:
        return None
    if result.decision.state is DecisionState.STOPPING:  # the record could not be written
        raise AwsError(result.message)
    return result.decision
