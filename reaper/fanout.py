"""Fan-out (issue 15): a scheduled report too big for one invocation, scanned one shard per message.

One Lambda invocation has 15 minutes. Above REAPER_FANOUT_SHARDS shards (README, Many
accounts, says how the threshold was measured) the scheduled report does not scan: `start`
records a *run* (its id, the shards it waits for) and sends one SQS message per shard to the
queue that triggers this same function, then one *deadline* message delayed by
REAPER_FANOUT_DEADLINE (at most SQS's 15 minutes). Each shard message (`receive`) scans its
shard alone and stores the findings under (run, shard); the message that completes the set,
or the deadline, claims the run and returns the report to post, with the shards still missing
named as not scanned. Nothing waits or polls: each step is a message.

Every step is idempotent, so duplicates, redeliveries and any order change nothing: a shard's
findings are stored once (a conditional put: a redelivered message whose shard is in already
is not scanned again), the run's done set is a set, and the claim is a conditional write that
one caller wins. A message for a run that was already posted does nothing. Below the
threshold, or without a queue, the report is one invocation's scan, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from reaper import accounts, codec, savings
from reaper.accounts import Shard
from reaper.decisions import new_id
from reaper.errors import ReaperError
from reaper.model import Account, Finding, ReportRun, ScanReport
from reaper.ports import ReportRuns, Services, ShardQueue
from reaper.scan import find_idle

log = logging.getLogger(__name__)

SHARD = "shard"
DEADLINE = "deadline"
MESSAGE_KEY = "reaper"  # every message of ours says what it is under this key
# A DynamoDB item holds at most 400 KB; packed findings take about 70 bytes an instance (README,
# Many accounts → Fan-out), so a shard of up to ~5 000 instances fits. A bigger one is reported as failed.
MAX_STORED_BYTES = 380_000


@dataclass(frozen=True)
class Ready:
    """A run to post now: its report, and why now ("complete" or "deadline")."""

    run: ReportRun
    report: ScanReport
    why: str


def plan(services: Services, regions: Sequence[str] | None = None) -> list[Shard] | None:
    """The shards of a scheduled report when it must fan out; None when one invocation scans it all
    (one account, no queue, or no more shards than REAPER_FANOUT_SHARDS). AwsError: no listing."""
    if services.accounts is None or services.queue is None or services.runs is None:
        return None
    shards = accounts.shards(services, tuple(dict.fromkeys(regions or services.settings.regions)))
    return shards if len(shards) > services.settings.fanout_shards else None


def start(services: Services, shards: Sequence[Shard], channel: str | None) -> ReportRun:
    """Record the run, then send a message per shard and the deadline. AwsError if any was not sent:
    the shards that did go will store findings nobody posts (the run has no deadline yet)."""
    runs, queue = _fanout(services)
    names = {s.account.id: s.account.name for s in shards if s.account is not None and s.account.name}
    run = ReportRun(new_id(), tuple(s.label for s in shards), tuple(dict.fromkeys(s.region for s in shards)),
                    services.clock(), channel, MappingProxyType(names))
    runs.open(run)
    queue.send([{MESSAGE_KEY: SHARD, "run": run.id, "shard": label} for label in run.shards])
    queue.send([{MESSAGE_KEY: DEADLINE, "run": run.id}], delay_seconds=services.settings.fanout_deadline)
    log.info("report %s fanned out to %d shards", run.id, len(run.shards))
    return run


def is_message(body: Mapping[str, Any]) -> bool:
    return body.get(MESSAGE_KEY) in (SHARD, DEADLINE) and isinstance(body.get("run"), str)


def receive(services: Services, body: Mapping[str, Any]) -> Ready | None:
    """Handle one message (a shard to scan or the deadline); the report to post when this message
    completed the run (or is its deadline) and won the claim, else None."""
    runs, _queue = _fanout(services)
    run = runs.get(str(body["run"]))
    if run is None or run.posted is not None:
        return None  # unknown (expired) or already posted: a late duplicate changes nothing
    if body[MESSAGE_KEY] == DEADLINE:
        return _claimed(services, run, DEADLINE)
    shard = str(body["shard"])
    if shard not in run.shards:
        log.warning("report %s has no shard %s; message ignored", run.id, shard)
        return None
    if shard not in run.done:
        _scan_and_store(services, run, shard)
        run = runs.shard_done(run.id, shard)
    if not run.missing and run.posted is None:
        return _claimed(services, run, "complete")
    return None


def _scan_and_store(services: Services, run: ReportRun, label: str) -> None:
    """Scan the shard unless it is stored already (a redelivery after a crash), and store it once."""
    runs, _queue = _fanout(services)
    if runs.shards(run.id, [label]):
        return
    account_id, _, region = label.rpartition("/")
    account = Account(account_id, services.settings.member_role(account_id), run.names.get(account_id))
    findings: bytes | None = None
    try:
        report = find_idle(services, run.regions, shards=[Shard(region, account)])
        findings, error = codec.pack(report.findings), report.errors.get(label)
    except ReaperError as failed:  # the one shard failed (AwsUnavailable) or its store did
        error = str(failed)
    if findings is not None and len(findings) > MAX_STORED_BYTES:
        error = f"its findings ({len(findings):,} bytes packed) are too big to store for the report"
    runs.put_shard(run.id, label, None if error else findings, error)


def _claimed(services: Services, run: ReportRun, why: str) -> Ready | None:
    runs, _queue = _fanout(services)
    if not runs.claim(run.id, why):
        return None
    return Ready(run, assemble(services, runs.get(run.id) or run), why)


def assemble(services: Services, run: ReportRun) -> ScanReport:
    """One report from the stored shards: each shard's findings, the failed ones and the missing ones named."""
    runs, _queue = _fanout(services)
    stored = runs.shards(run.id, run.shards)
    findings: list[Finding] = []
    errors: dict[str, str] = {}
    for label in run.shards:
        if label not in stored:
            errors[label] = "no answer by the report's deadline"
            continue
        packed, error = stored[label]
        if error is not None or packed is None:
            errors[label] = error or "no findings stored"
            continue
        findings.extend(_named(f, run.names) for f in codec.unpack(packed))
    findings.sort(key=lambda f: (f.instance.account or "", f.instance.region, f.instance.instance_id))
    try:
        saved = savings.summary(services)
    except ReaperError as error:
        log.warning("savings to date not known: %s", error)
        saved = None
    return ScanReport(run.regions, tuple(findings), run.started_at, services.clock(), errors,
                      services.settings.policy, saved, None, shards=run.shards, dry_run=services.settings.dry_run)


def _named(finding: Finding, names: Mapping[str, str]) -> Finding:
    """The account's name as the run knew it (a shard's own invocation has not listed the organisation)."""
    inst = finding.instance
    if inst.account is None or inst.account_name is not None or inst.account not in names:
        return finding
    return replace(finding, instance=replace(inst, account_name=names[inst.account]))


def _fanout(services: Services) -> tuple[ReportRuns, ShardQueue]:
    if services.runs is None or services.queue is None:
        raise ReaperError("fan-out needs REAPER_SHARD_QUEUE (the shard queue) and the runs store")
    return services.runs, services.queue
