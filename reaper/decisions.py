"""Decision use cases: offer report rows, stop or keep an instance, publish the audit trail.

Stopping follows claim → re-check → act → record → publish:

1. *claim*: a conditional write moves the decision pending → stopping; of concurrent
   clicks, replays and redeliveries exactly one gets past this point.
2. *re-check*: DescribeInstances right before acting — still running, still eligible
   (tags may have changed since the report), no stop protection, no Keep since.
3. *act*: StopInstances for that one instance; expected refusals are outcomes.
4. *record*: stopping → stopped | skipped | failed, conditionally.
5. *publish*: the decision's events go to S3. DynamoDB is the source of truth: if S3 is
   down the decision stays marked unpublished and ``publish_pending`` retries it later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reaper import eligibility
from reaper.aws.clients import error_text
from reaper.aws.dynamo import AlreadyDecided, new_id
from reaper.aws.ec2 import Ec2Gateway, StopAttempt
from reaper.bootstrap import Services
from reaper.errors import InstanceNotFound, StoreNotReady
from reaper.model import Decision, DecisionState, Finding, Outcome, Result

log = logging.getLogger(__name__)


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
            state=DecisionState.PENDING,
            created_at=now,
            expires_at=expires,
            channel=channel,
            message_ts=message_ts,
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
) -> Result:
    """Stop the instance behind a pending decision, at most once whoever asks how often.

    Raises DecisionNotFound for an id that was never issued (or was cleaned up).
    """
    now = services.clock()
    try:
        decision = services.store.transition(
            decision_id,
            source=DecisionState.PENDING,
            target=DecisionState.STOPPING,
            event="stop-requested",
            now=now,
            actor=actor,
            unexpired=True,
            channel=channel,
            message_ts=message_ts,
        )
    except AlreadyDecided as lost:
        return _lost(lost.decision, now, channel, message_ts)

    attempt = recheck_and_stop(services, decision)
    if attempt is None:
        return Result(
            Outcome.FAILED,
            decision,
            "StopInstances was sent but its answer was lost; the repair sweep will settle it",
            audit_published=False,
        )
    return finish(services, decision, attempt)


def keep(
    services: Services,
    decision_id: str,
    actor: str,
    *,
    days: int | None = None,
    channel: str | None = None,
    message_ts: str | None = None,
) -> Result:
    """Keep the instance: hidden from reports until the Keep expires."""
    now = services.clock()
    until = now + timedelta(days=days or services.settings.keep_days)
    try:
        decision = services.store.transition(
            decision_id,
            source=DecisionState.PENDING,
            target=DecisionState.KEPT,
            event="kept",
            now=now,
            actor=actor,
            keep_until=until,
            unexpired=True,
            channel=channel,
            message_ts=message_ts,
        )
    except AlreadyDecided as lost:
        return _lost(lost.decision, now, channel, message_ts)
    published = publish(services, decision)
    return Result(Outcome.KEPT, decision, f"kept until {until:%Y-%m-%d %H:%M} UTC", published)


def stop_instance(services: Services, instance_id: str, actor: str, region: str | None = None) -> Result:
    """Stop an instance named directly (the CLI): a one-off decision, then the same stop."""
    decision = services.store.create(_direct(services, instance_id, region, DecisionState.PENDING))
    return stop(services, decision.id, actor)


def keep_instance(
    services: Services, instance_id: str, actor: str, *, days: int | None = None, region: str | None = None
) -> Result:
    """Keep an instance named directly (the CLI)."""
    pending = services.store.create(_direct(services, instance_id, region, DecisionState.PENDING))
    return keep(services, pending.id, actor, days=days)


def publish(services: Services, decision: Decision) -> bool:
    """Write the decision's unpublished events to S3. False (and logged) if S3 failed."""
    if not decision.unpublished:
        return True
    try:
        for event in decision.events or services.store.events(decision.id):
            if event["seq"] > decision.published_seq:
                services.audit.put(audit_key(decision, event), audit_document(decision, event))
        services.store.mark_published(decision.id, decision.seq)
    except (ClientError, BotoCoreError, StoreNotReady) as error:
        # StoreNotReady: the bucket is missing. The decision is already in DynamoDB (and the
        # instance may be stopped), so it is the same as an outage: unpublished, not a failure.
        log.warning(
            "audit record for decision %s not written (%s); it stays marked unpublished for the sweep",
            decision.id,
            error_text(error),
        )
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
    return (
        f"decisions/{decision.created_at:%Y/%m/%d}/{decision.id}/"
        f"{int(str(event['seq'])):04d}-{event['event']}.json"
    )


# What each event records as the action; every other event belongs to a stop.
_ACTIONS = {"kept": "keep", "expired": "expire"}  # expired: nobody acted before the row lapsed


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
    }


# -- the steps of a stop (also used by the repair sweep) and internals ----------------------


def _lost(decision: Decision, now: datetime, channel: str | None, message_ts: str | None) -> Result:
    """Explain why a transition did not happen, without changing anything."""
    if (channel is not None and decision.channel != channel) or (
        message_ts is not None and decision.message_ts != message_ts
    ):
        return Result(Outcome.FAILED, decision, "this button does not belong to this message")
    if decision.state is DecisionState.PENDING and decision.expires_at <= now:
        return Result(Outcome.EXPIRED, decision, "this report row has expired; run a new scan")
    if decision.state is DecisionState.EXPIRED:
        return Result(Outcome.EXPIRED, decision, "this report row has expired; run a new scan")
    who = decision.actor or "someone"
    return Result(Outcome.ALREADY_HANDLED, decision, f"already handled by {who} ({decision.state.value})")


def recheck_and_stop(services: Services, decision: Decision) -> StopAttempt | None:
    """Re-check, then stop. None when StopInstances may have run but its answer was lost."""
    ec2 = services.ec2(decision.region)
    try:
        refusal = _recheck(services, ec2, decision)
    except (ClientError, BotoCoreError) as error:
        return StopAttempt(DecisionState.FAILED, f"could not re-check the instance: {error_text(error)}")
    if refusal is not None:
        return refusal
    try:
        return ec2.stop(decision.instance_id)
    except ClientError as error:
        # AWS answered with an error we do not expect: nothing was stopped.
        return StopAttempt(DecisionState.FAILED, f"StopInstances failed: {error_text(error)}")
    except BotoCoreError as error:
        # No answer (timeout, connection reset): the stop may or may not have happened.
        # Leave the decision in `stopping`; the repair sweep settles it from the real state.
        log.error("StopInstances for %s unconfirmed: %s", decision.instance_id, error)
        return None


def _recheck(services: Services, ec2: Ec2Gateway, decision: Decision) -> StopAttempt | None:
    instance = ec2.describe(decision.instance_id)
    if instance is None:
        return StopAttempt(DecisionState.SKIPPED, "the instance no longer exists")
    if instance.state != "running":
        return StopAttempt(DecisionState.SKIPPED, f"the instance is already {instance.state}")
    reason = eligibility.static_skip(instance)
    if reason is None and eligibility.needs_spot_lookup(instance):
        persistent = ec2.persistent_spot_requests([instance.spot_request_id] if instance.spot_request_id else [])
        if instance.spot_request_id not in persistent:
            reason = eligibility.skip_reason(instance)
    if reason is None and ec2.stop_protected(instance.instance_id):
        reason = eligibility.skip_reason(instance, persistent_spot=True, stop_protected=True)
    if reason is None and services.store.active_keeps(services.clock(), instance.instance_id):
        reason = eligibility.skip_reason(instance, persistent_spot=True, kept=True)
    if reason is not None:
        return StopAttempt(DecisionState.SKIPPED, f"not stopped: {reason.text}")
    return None


def finish(services: Services, decision: Decision, attempt: StopAttempt) -> Result:
    now = services.clock()
    event = {DecisionState.STOPPED: "stopped", DecisionState.SKIPPED: "skipped"}.get(attempt.state, "failed")
    try:
        decision = services.store.transition(
            decision.id,
            source=DecisionState.STOPPING,
            target=attempt.state,
            event=event,
            now=now,
            reason=attempt.reason,
        )
    except AlreadyDecided as lost:  # the repair sweep settled it first
        return Result(Outcome.ALREADY_HANDLED, lost.decision, f"already settled: {lost.decision.state.value}")
    published = publish(services, decision)
    outcome = {
        DecisionState.STOPPED: Outcome.STOPPED,
        DecisionState.SKIPPED: Outcome.SKIPPED,
    }.get(attempt.state, Outcome.FAILED)
    return Result(outcome, decision, attempt.reason, published)


def _direct(services: Services, instance_id: str, region: str | None, state: DecisionState) -> Decision:
    region = region or _locate(services, instance_id)
    instance = services.ec2(region).describe(instance_id)
    if instance is None:
        raise InstanceNotFound(f"{instance_id} does not exist in {region}")
    now = services.clock()
    return Decision(
        id=new_id(),
        instance_id=instance_id,
        region=region,
        name=instance.name,
        state=state,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )


def _locate(services: Services, instance_id: str) -> str:
    for region in services.settings.regions:
        if services.ec2(region).describe(instance_id) is not None:
            return region
    raise InstanceNotFound(f"{instance_id} was not found in {', '.join(services.settings.regions)}")
