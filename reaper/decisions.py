"""Decision use cases: offer report rows, stop or keep an instance, publish the audit trail.

Stopping follows claim → re-check → act → record → publish:

1. *claim*: a conditional write moves the decision pending → stopping; of concurrent
   clicks, replays and redeliveries exactly one gets past this point. Whether a request
   may act at all (unknown row, another message, expired, decided already) is answered
   here and nowhere else: the losing write says why.
2. *re-check*: right before acting, the instance must still be the one that was judged
   and still be idle: DescribeInstances says it runs with the same type and LaunchTime
   (not restarted since the report, nor started again since the claim: the repair
   sweep's retry goes through this too), it is still eligible (tags may have changed since
   the report), no stop protection, no Keep since; and one GetMetricData read of that
   instance since the report shows no work by the policy's thresholds
   (reaper.policy.busy_since). Any change is a skip with its reason.
3. *act*: StopInstances for that one instance; expected refusals are outcomes. An
   instance with hibernation configured is hibernated (Hibernate=True); if EC2 refuses the
   hibernation, it is stopped plainly and the record says why. In a dry run
   (REAPER_DRY_RUN) the request carries DryRun=True: EC2 checks it, permission included,
   and stops nothing.
4. *record*: stopping → stopped | skipped | failed | would_stop, conditionally.
5. *publish*: the decision's events go to S3. DynamoDB is the source of truth: if S3 (or
   the bookkeeping write after it) fails, the decision stays marked unpublished and
   ``publish_pending`` retries it later.

Every request ends in one Result whose Outcome the caller renders; nothing is raised for
a request that was merely refused or for an AWS failure after the claim.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from reaper import cost, eligibility, keeps, owners, policy
from reaper.accounts import ec2_for, metrics_for
from reaper.errors import (
    AlreadyDecided,
    AwsError,
    DecisionNotFound,
    HibernationRefused,
    InstanceNotFound,
    ReaperError,
    StopUnconfirmed,
)
from reaper.model import (
    NOT_HIBERNATED,
    Decision,
    DecisionState,
    Finding,
    Instance,
    Outcome,
    Result,
    SkipReason,
    StopAttempt,
    Verdict,
    VerdictKind,
)
from reaper.owners import Action, Clicker
from reaper.ports import Ec2, Services

log = logging.getLogger(__name__)

NOT_FOUND = "This report row is unknown (it may be very old), so nothing was changed. Run a new scan."
WRONG_MESSAGE = "This button does not belong to this message, so nothing was changed."
EXPIRED = "This report row has expired, so nothing was changed. Run a new scan for a fresh report."
SUPERSEDED = "A newer report offers this instance again, so nothing was changed here: answer in the newer report."
UNCONFIRMED = "StopInstances was sent but EC2's answer was lost; the repair sweep will record what happened"
STOP_FORCED = "stop-forced"  # the claim's event when a person overrode the policy or REAPER_REGIONS (--force)
DRY_RUN = "DRY RUN: StopInstances is sent with DryRun=True; nothing is stopped"


def new_id() -> str:
    """An opaque, unguessable decision id: 128 random bits, URL-safe. The only thing a button carries."""
    return secrets.token_urlsafe(16)


def propose(
    services: Services, findings: Iterable[Finding], *, channel: str | None, message_ts: str | None
) -> list[Decision]:
    """New pending report rows, one per proposed finding (not yet stored: see record_rows)."""
    now = services.clock()
    expires = now + timedelta(days=services.settings.row_days)
    return [
        Decision(
            id=new_id(),
            instance_id=f.instance.instance_id,
            region=f.instance.region,
            name=f.instance.name,
            instance_type=f.instance.instance_type,
            launch_time=f.instance.launch_time,
            state=DecisionState.PENDING,
            created_at=now,
            expires_at=expires,
            channel=channel,
            message_ts=message_ts,
            hourly_saving=f.cost.saving_hourly if f.cost else None,
            owner=f.owner,
            account=f.instance.account,
            account_name=f.instance.account_name,
        )
        for f in findings
        if f.proposed
    ]


def record_rows(services: Services, rows: Iterable[Decision]) -> None:
    services.store.add_rows(rows)


def stop(
    services: Services,
    decision_id: str,
    actor: str,
    *,
    channel: str | None = None,
    message_ts: str | None = None,
    claimed: Callable[[Decision], None] | None = None,
    forced: str | None = None,
    clicker: Clicker | None = None,
) -> Result:
    """Stop the instance behind a pending decision, at most once whoever asks how often.

    `claimed` is called once this request has won the decision, before anything is done to
    the instance (to show progress); its failure changes nothing. `forced` says what a
    person overrode to ask for this stop: the claim's event is then "stop-forced" with
    that reason, and the re-check does not judge the instance's usage again. `clicker`
    (Slack) is held to reaper.owners' rule first: Outcome.NOT_ALLOWED, nothing changed.
    """
    now = services.clock()
    if clicker is not None:
        refused = _not_allowed(services, decision_id, clicker, Action.STOP)
        if refused is not None:
            return refused
    reasons = [r for r in (DRY_RUN if services.settings.dry_run else None, forced) if r]
    try:
        decision = services.store.transition(
            decision_id,
            source=DecisionState.PENDING,
            target=DecisionState.STOPPING,
            event=STOP_FORCED if forced is not None else "stop-requested",
            now=now,
            actor=actor,
            reason="; ".join(reasons) or None,
            unexpired=True,
            channel=channel,
            message_ts=message_ts,
        )
    except DecisionNotFound:
        return Result(Outcome.NOT_FOUND, None, NOT_FOUND)
    except AlreadyDecided as lost:
        return refusal(lost.decision, now, channel, message_ts)
    except AwsError as error:
        return Result(Outcome.FAILED, None, f"Nothing was stopped: the decision could not be recorded ({error}). "
                                            "Try again.")
    if claimed is not None:
        try:
            claimed(decision)
        except Exception:
            log.warning("showing progress of decision %s failed; stopping anyway", decision.id, exc_info=True)
    attempt = recheck_and_stop(services, decision)
    if attempt is None:
        return Result(Outcome.UNCONFIRMED, decision, UNCONFIRMED, audit_published=False)
    return conclude(services, decision, attempt)


def keep(
    services: Services,
    decision_id: str,
    actor: str,
    *,
    days: int | None = None,
    until: date | None = None,
    reason: str | None = None,
    channel: str | None = None,
    message_ts: str | None = None,
    clicker: Clicker | None = None,
) -> Result:
    """Keep the instance: hidden from reports until the Keep expires, and tagged so.

    The Keep lasts `days` (REAPER_KEEP_DAYS when not given) or until the end of the UTC day
    `until` (reaper.keeps); `reason` is shown on the row and kept in the audit record. Once
    recorded, the Keep is mirrored to the instance's reaper:keep-until tag: DynamoDB is the
    source of truth, so a tag that cannot be written leaves the Keep standing (and is said).
    """
    now = services.clock()
    try:
        ends = keeps.keep_until(now, days=days, until=until, default_days=services.settings.keep_days)
    except ValueError as invalid:
        return Result(Outcome.NOT_ALLOWED, None, f"Nothing was kept: {invalid}")
    if clicker is not None:
        refused = _not_allowed(services, decision_id, clicker, Action.KEEP)
        if refused is not None:
            return refused
    try:
        decision = services.store.transition(
            decision_id,
            source=DecisionState.PENDING,
            target=DecisionState.KEPT,
            event="kept",
            now=now,
            actor=actor,
            reason=(reason or "").strip() or None,
            keep_until=ends,
            unexpired=True,
            channel=channel,
            message_ts=message_ts,
        )
    except DecisionNotFound:
        return Result(Outcome.NOT_FOUND, None, NOT_FOUND)
    except AlreadyDecided as lost:
        return refusal(lost.decision, now, channel, message_ts)
    except AwsError as error:
        return Result(Outcome.FAILED, None, f"Nothing was kept: the decision could not be recorded ({error}). "
                                            "Try again.")
    published = publish(services, decision)
    message = f"kept until {ends:%Y-%m-%d %H:%M} UTC"
    try:
        ec2_for(services, decision.region, decision.account).tag_keep_until(decision.instance_id, keeps.tag_value(ends))
    except AwsError as error:
        log.warning("Keep of %s recorded, but its %s tag not written: %s", decision.instance_id, keeps.KEEP_TAG, error)
        message += f" (the {keeps.KEEP_TAG} tag could not be written: {error})"
    return Result(Outcome.KEPT, decision, message, published)


def _not_allowed(services: Services, decision_id: str, clicker: Clicker, action: Action) -> Result | None:
    """Outcome.NOT_ALLOWED when reaper.owners' rule refuses this clicker (None: they may go on).

    An approver costs nothing; anyone else costs one read, for the owner the row was offered with.
    """
    if clicker.not_approver is None:
        return None
    try:
        decision = services.store.get(decision_id)
    except DecisionNotFound:
        return Result(Outcome.NOT_FOUND, None, NOT_FOUND)
    why = owners.refusal(clicker, decision.owner, action, owners_may_stop=services.settings.owners_may_stop)
    if why is None:
        return None
    return Result(Outcome.NOT_ALLOWED, decision, why)


def keep_instance(
    services: Services, instance_id: str, actor: str, *, days: int | None = None, region: str | None = None,
    reason: str | None = None,
) -> Result:
    """Keep an instance named directly (the CLI)."""
    decision = services.store.create(_direct(services, _named(services, instance_id, region)))
    return keep(services, decision.id, actor, days=days, reason=reason)


def stop_instance(
    services: Services, instance_id: str, actor: str, region: str | None = None, *, force: bool = False
) -> Result:
    """Stop an instance named directly (the CLI): a one-off decision, then the same stop.

    The reaper offers a stop only for an idle instance in one of REAPER_REGIONS; a stop asked
    for by name is held to the same, and refused (Outcome.NEEDS_FORCE, nothing recorded)
    unless `force`. A forced stop says in its audit record what it overrode.
    """
    instance = _named(services, instance_id, region)
    objections = objections_to_stopping(services, instance)
    if objections and not force:
        return Result(Outcome.NEEDS_FORCE, None,
                      f"not stopped: {'; '.join(objections)}. Add --force to stop it anyway.")
    forced = None
    if force:
        forced = f"forced past: {'; '.join(objections)}" if objections else "forced, though nothing argued against it"
    decision = services.store.create(_direct(services, instance))
    return stop(services, decision.id, actor, forced=forced)


def objections_to_stopping(services: Services, instance: Instance) -> list[str]:
    """Why the reaper would not have offered this instance for stopping: its region is not scanned,
    or the idle policy, reading it as a scan does, does not call it idle. Empty when nothing objects."""
    objections = []
    outside = services.settings.not_scanned(instance.region)
    if outside is not None:
        objections.append(outside)
    verdict = judge_instance(services, instance)
    if verdict.kind is VerdictKind.BUSY:
        objections.append(f"the idle policy calls it busy ({verdict.reason})")
    elif verdict.kind is VerdictKind.INSUFFICIENT_DATA:
        objections.append(f"the idle policy cannot call it idle yet ({verdict.reason})")
    return objections


def judge_instance(services: Services, instance: Instance) -> Verdict:
    """The idle policy's verdict on one instance: the scan's window, metrics and thresholds."""
    settings = services.settings.policy
    start, end = policy.window(services.clock(), settings.lookback_days)
    usage = metrics_for(services, instance.region, instance.account).daily_usage([instance.instance_id], start, end)
    return policy.judge(usage.get(instance.instance_id, []), settings)


def rows(services: Services, decision_ids: Iterable[str]) -> dict[str, Decision]:
    """The records behind these ids as they stand now (unknown ids left out): a message's rows re-rendered."""
    found: dict[str, Decision] = {}
    for decision_id in decision_ids:
        try:
            found[decision_id] = services.store.get(decision_id)
        except DecisionNotFound:
            continue
    return found


def recent(services: Services, limit: int = 10) -> list[Decision]:
    """The latest decisions, newest first."""
    return services.store.recent(limit)


def note_failure(services: Services, decision_id: str, what: str) -> None:
    """Remember on the decision that work done for it failed (status shows it; the sweep settles the state)."""
    services.store.note_error(decision_id, what, services.clock())


# -- the audit trail -----------------------------------------------------------------------


def publish(services: Services, decision: Decision) -> bool:
    """Write the decision's unpublished events to S3. False (and logged) if that or its bookkeeping failed."""
    if not decision.unpublished:
        return True
    try:
        for event in decision.events or services.store.events(decision.id):
            if event["seq"] > decision.published_seq:
                services.audit.put(audit_key(decision, event), audit_document(decision, event))
        services.store.mark_published(decision.id, decision.seq)
    except ReaperError as error:
        # The decision is already in DynamoDB (and the instance may be stopped): a missing
        # bucket, an S3 outage or a failed bookkeeping write (a pynamodb UpdateError, as the
        # gateway's AwsError) leave it unpublished, not failed.
        log.warning("audit record for decision %s not written (%s); it stays marked unpublished for the sweep",
                    decision.id, error)
        return False
    return True


def publish_pending(services: Services) -> tuple[int, int]:
    """Retry every unpublished decision; (published, still pending)."""
    done = failed = 0
    for decision in services.store.unpublished():
        if publish(services, decision):
            done += 1
        else:
            failed += 1
    return done, failed


def audit_key(decision: Decision, event: Mapping[str, Any]) -> str:
    """Where an event is written; a member account's decisions are under its id (issue 15), so an
    account's audit trail can be listed (and granted) by prefix. One account: the keys as before."""
    account = f"accounts/{decision.account}/" if decision.account is not None else ""
    return (
        f"decisions/{decision.created_at:%Y/%m/%d}/{account}{decision.id}/"
        f"{int(str(event['seq'])):04d}-{event['event']}.json"
    )


# What each event records as the action; every other event belongs to a stop.
# expired: nobody acted before the row lapsed; superseded: a newer report offered the instance again.
_ACTIONS = {"kept": "keep", "expired": "expire", "superseded": "supersede"}


def audit_document(decision: Decision, event: Mapping[str, Any]) -> dict[str, Any]:
    at = event["at"]
    return {
        "decision_id": decision.id,
        "seq": event["seq"],
        "event": event["event"],
        "action": _ACTIONS.get(str(event["event"]), "stop"),
        "instance_id": decision.instance_id,
        "region": decision.region,
        "actor": event.get("actor") or decision.actor,
        "at": at.isoformat() if isinstance(at, datetime) else str(at),
        "outcome": event["state"],
        "reason": event.get("reason"),
        "channel": decision.channel,
        "message_ts": decision.message_ts,
        # REAPER_DRY_RUN: the stop was only checked (its claim says so, its outcome is would_stop).
        "dry_run": event["state"] == DecisionState.WOULD_STOP.value or str(event.get("reason") or "").startswith(
            "DRY RUN"),
        "account": decision.account,  # many accounts (issue 15); null: the reaper's own account
        "account_name": decision.account_name,
    }


# -- the steps of a stop (the repair sweep uses them too) ------------------------------------


def refusal(decision: Decision, now: datetime, channel: str | None, message_ts: str | None) -> Result:
    """Why a request lost its conditional write, without changing anything."""
    if (channel is not None and decision.channel != channel) or (
        message_ts is not None and decision.message_ts != message_ts
    ):
        return Result(Outcome.WRONG_MESSAGE, decision, WRONG_MESSAGE)
    if decision.state is DecisionState.SUPERSEDED:
        return Result(Outcome.SUPERSEDED, decision, SUPERSEDED)
    if decision.state is DecisionState.EXPIRED or (
        decision.state is DecisionState.PENDING and decision.expires_at <= now
    ):
        return Result(Outcome.EXPIRED, decision, EXPIRED)
    who = decision.actor or "someone"
    return Result(Outcome.ALREADY_DECIDED, decision, f"Already decided by {who} ({decision.state.value}).")


def recheck_and_stop(services: Services, decision: Decision) -> StopAttempt | None:
    """Re-check, then stop. None when StopInstances may have run but its answer was lost."""
    try:
        checked = _recheck(services, decision)
    except AwsError as error:
        return StopAttempt(DecisionState.FAILED, f"could not re-check the instance: {error}", error.code)
    if isinstance(checked, StopAttempt):
        return checked
    try:
        # In a member account, on credentials assumed with the approver as SourceIdentity.
        ec2 = ec2_for(services, decision.region, decision.account, actor=decision.actor or "reaper")
        return _act(services, checked, ec2)
    except StopUnconfirmed as error:
        # The stop may or may not have happened: leave the decision in `stopping`; the repair
        # sweep settles it from the instance's real state.
        log.error("StopInstances for %s unconfirmed: %s", decision.instance_id, error)
        return None
    except AwsError as error:  # AWS answered with an error we do not expect: nothing was stopped
        return StopAttempt(DecisionState.FAILED, f"StopInstances failed: {error}", error.code)


def _act(services: Services, instance: Instance, ec2: Ec2) -> StopAttempt:
    """Stop the instance, hibernating it when it is configured for hibernation; a dry run only asks EC2.

    EC2 refuses Hibernate=True for an instance that cannot hibernate (yet): the instance is
    then stopped plainly, since the person (or the grace period) decided it should not run,
    and the record says why it was not hibernated.
    """
    dry_run = services.settings.dry_run
    if not instance.hibernation_configured:
        return ec2.stop(instance.instance_id, dry_run=dry_run)
    try:
        return ec2.stop(instance.instance_id, hibernate=True, dry_run=dry_run)
    except HibernationRefused as refused:
        log.warning("hibernating %s refused (%s); stopping it instead", instance.instance_id, refused)
        plain = ec2.stop(instance.instance_id, dry_run=dry_run)
        if plain.state is not DecisionState.STOPPED:
            return replace(plain, reason=f"{plain.reason} (after EC2 refused to hibernate it: {refused})")
        return replace(plain, reason=f"not hibernated, as EC2 refused: {refused} ({plain.reason})",
                       event=NOT_HIBERNATED)


def _recheck(services: Services, decision: Decision) -> StopAttempt | Instance:
    """Why the instance must not be stopped now, or the instance as it is when it may; cheapest question first."""
    ec2 = ec2_for(services, decision.region, decision.account)
    instance = ec2.describe(decision.instance_id)
    if instance is None:
        return StopAttempt(DecisionState.SKIPPED, "the instance no longer exists")
    restarted = started_again(decision, instance)
    if restarted is not None:
        return restarted
    if instance.state != "running":
        return StopAttempt(DecisionState.SKIPPED, f"the instance is already {instance.state}")
    changed = _changed_since_report(decision, instance)
    if changed is not None:
        return StopAttempt(DecisionState.SKIPPED, changed)
    kept = services.store.active_keeps(services.clock(), instance.instance_id)
    skip = eligibility.assess([instance], ec2, kept=kept, today=services.clock().date())[instance.instance_id]
    if skip is not None:
        state = DecisionState.FAILED if skip.reason is SkipReason.UNCHECKED else DecisionState.SKIPPED
        return StopAttempt(state, skip.text, skip.detail)
    if _forced(decision):
        return instance  # a person overrode the policy's verdict moments ago, knowing it
    now = services.clock()
    metrics = metrics_for(services, decision.region, decision.account)
    usage = metrics.usage_since(decision.instance_id, decision.created_at, now)
    busy = policy.busy_since(usage, services.settings.policy, until=now)
    if busy is not None:
        return StopAttempt(DecisionState.SKIPPED, f"busy since the report ({busy})")
    return instance


def started_again(decision: Decision, instance: Instance) -> StopAttempt | None:
    """A skip when the instance was started after this stop was claimed: its owner wants it running.

    The claim is the write that moved the decision to stopping (its `updated_at`; nothing
    else writes it while stopping). EC2 moves LaunchTime at every start, so a later one
    means a stop, most likely ours whose outcome was never recorded, and a start since.
    The repair sweep asks this first; a click's re-check asks it too, where it never holds.
    """
    claimed = decision.updated_at or decision.created_at
    if decision.state is not DecisionState.STOPPING or instance.launch_time <= claimed:
        return None
    return StopAttempt(DecisionState.SKIPPED, f"started again after the click (at {_when(instance.launch_time)})")


def _changed_since_report(decision: Decision, instance: Instance) -> str | None:
    """Whether the instance is no longer the one the report judged (rows from before these
    fields were recorded carry neither, and are judged by the other checks alone)."""
    if decision.instance_type is not None and instance.instance_type != decision.instance_type:
        return f"its type changed since the report ({decision.instance_type} → {instance.instance_type})"
    if decision.launch_time is not None and abs(instance.launch_time - decision.launch_time) >= _SAME_LAUNCH:
        return f"restarted since the report (at {_when(instance.launch_time)})"
    return None


def _when(at: datetime) -> str:
    return f"{at.day} {at:%b %H:%M} UTC"


# EC2 reports LaunchTime to the second; a restart moves it by far more.
_SAME_LAUNCH = timedelta(seconds=1)


def _forced(decision: Decision) -> bool:
    return any(event.get("event") == STOP_FORCED for event in decision.events)


def conclude(services: Services, decision: Decision, attempt: StopAttempt) -> Result:
    """Record what the attempt came to (stopping → its state), publish it, and say so."""
    outcome = {
        DecisionState.STOPPED: Outcome.STOPPED,
        DecisionState.SKIPPED: Outcome.SKIPPED,
        DecisionState.WOULD_STOP: Outcome.WOULD_STOP,
    }.get(attempt.state, Outcome.FAILED)
    event = attempt.event or {
        DecisionState.STOPPED: "stopped", DecisionState.SKIPPED: "skipped", DecisionState.WOULD_STOP: "would-stop",
    }.get(attempt.state, "failed")
    try:
        decision = services.store.transition(
            decision.id,
            source=DecisionState.STOPPING,
            target=attempt.state,
            event=event,
            now=services.clock(),
            reason=attempt.reason,
        )
    except AlreadyDecided as lost:  # the repair sweep recorded it first
        return Result(Outcome.ALREADY_DECIDED, lost.decision, f"Already recorded: {lost.decision.state.value}.")
    except AwsError as error:
        # What happened to the instance stands; only its record is behind. The decision stays
        # `stopping`, and the repair sweep records it from the instance's real state.
        log.error("outcome of decision %s not recorded: %s", decision.id, error)
        message = f"{attempt.reason} (not yet recorded: the repair sweep will record it)"
        return Result(outcome, decision, message, audit_published=False)
    published = publish(services, decision)
    return Result(outcome, decision, attempt.reason, published)


def _named(services: Services, instance_id: str, region: str | None) -> Instance:
    region = region or _locate(services, instance_id)
    instance = services.ec2(region).describe(instance_id)
    if instance is None:
        raise InstanceNotFound(f"{instance_id} does not exist in {region}")
    return instance


def _direct(services: Services, instance: Instance) -> Decision:
    now = services.clock()
    return Decision(
        id=new_id(),
        instance_id=instance.instance_id,
        region=instance.region,
        name=instance.name,
        instance_type=instance.instance_type,
        launch_time=instance.launch_time,
        state=DecisionState.PENDING,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        hourly_saving=_hourly_saving(services, instance),
    )


def _hourly_saving(services: Services, instance: Instance) -> float | None:
    """What stopping this one instance saves an hour, for its savings to date (None: not known)."""
    if services.prices is None:
        return None
    priced = cost.price_one(services, instance)
    return priced.saving_hourly if priced else None


def _locate(services: Services, instance_id: str) -> str:
    for region in services.settings.regions:
        if services.ec2(region).describe(instance_id) is not None:
            return region
    raise InstanceNotFound(f"{instance_id} was not found in {', '.join(services.settings.regions)}")
