"""No decision is lost: AWS faults at the HTTP boundary, and a process killed mid-stop.

Faults are injected as HTTP responses at botocore's before-send hook (tests.calls.fail),
so botocore's retry handler and error parser see them exactly as if AWS had sent them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from botocore.config import Config

from reaper import decisions
from reaper.aws.clients import Clients
from reaper.aws.ec2 import Ec2Gateway
from reaper.aws.s3 import S3AuditLog
from reaper.model import Decision, DecisionState, Outcome, Result, SkipReason
from reaper.ports import Services
from reaper.scan import find_idle
from reaper.sweep import reconcile
from tests.aws import OTHER, AwsEnv
from tests.calls import CallLog, fail
from tests.integration.conftest import Seed, busy, quiet
from tests.reliability.figures import Figures
from tests.reliability.test_races import rows_for_new_instances

ROOT = Path(__file__).resolve().parents[2]


def instance_state(aws: AwsEnv, instance_id: str) -> str:
    r = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(r["Reservations"][0]["Instances"][0]["State"]["Name"])


def dynamodb_client(services: Services) -> object:
    """pynamodb's own botocore client for the decision table (to inject DynamoDB faults)."""
    return services.store.client  # type: ignore[attr-defined]


def after(services: Services, minutes: int) -> Services:
    return replace(services, clock=lambda: services.clock() + timedelta(minutes=minutes))


def test_throttled_stop_instances_is_one_logical_stop(aws: AwsEnv, services: Services, figures: Figures) -> None:
    (row,) = rows_for_new_instances(aws, services, 1)
    client = aws.client("ec2")
    fault = fail(client, "StopInstances", "RequestLimitExceeded", times=2, status=503)
    log = CallLog()
    log.attach(client)

    result = decisions.stop(aws.services(ec2=lambda r: Ec2Gateway(client, r)), row.id, "U-alice")

    figures.record("faults", "RequestLimitExceeded twice, then success", tried=1,
                   unwanted=int(result.outcome is not Outcome.STOPPED), note=f"{fault()} throttled attempts retried")
    assert result.outcome is Outcome.STOPPED and fault() == 2
    assert log.counts["StopInstances"] == 1  # one logical call; the retries were botocore's
    assert instance_state(aws, row.instance_id) in ("stopping", "stopped")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("IncorrectInstanceState", DecisionState.SKIPPED),
        ("UnsupportedOperation", DecisionState.SKIPPED),
        ("OperationNotPermitted", DecisionState.SKIPPED),
    ],
)
def test_expected_refusals_are_recorded_and_not_retried(
    aws: AwsEnv, services: Services, figures: Figures, code: str, expected: DecisionState
) -> None:
    (row,) = rows_for_new_instances(aws, services, 1)
    client = aws.client("ec2")
    fault = fail(client, "StopInstances", code)

    decisions.stop(aws.services(ec2=lambda r: Ec2Gateway(client, r)), row.id, "U-alice")

    stored = services.store.get(row.id)
    wrong = int(stored.state is not expected or fault() != 1)
    figures.record("faults", f"StopInstances answers {code}", tried=1, unwanted=wrong,
                   note=f"recorded {stored.state.value}, {fault()} attempt(s)")
    assert stored.state is expected and fault() == 1
    assert not stored.unpublished


def test_throughput_exceeded_on_the_claim_makes_no_ec2_call(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    (row,) = rows_for_new_instances(aws, services, 1)
    log = CallLog()
    ec2 = log.attach(aws.client("ec2"))
    fault = fail(dynamodb_client(services), "UpdateItem", "ProvisionedThroughputExceededException")
    try:
        result = decisions.stop(replace(services, ec2=lambda r: Ec2Gateway(ec2, r)), row.id, "U-alice")
    finally:
        fault.remove()

    stored = services.store.get(row.id)
    figures.record("faults", "DynamoDB throughput exceeded on the claim", tried=1,
                   unwanted=sum(log.counts.values()), lost=int(stored.state is not DecisionState.PENDING),
                   note=f"{fault()} attempts, the clicker told nothing was stopped, row still pending")
    assert result.outcome is Outcome.FAILED and result.decision is None
    assert "Nothing was stopped" in result.message and "ProvisionedThroughputExceeded" in result.message
    assert sum(log.counts.values()) == 0
    assert stored.state is DecisionState.PENDING
    assert instance_state(aws, row.instance_id) == "running"


def stop_with_its_outcome_write_lost(aws: AwsEnv, services: Services) -> tuple[Decision, Result]:
    """A Stop click on a new row whose claim is written and whose outcome write is throttled away."""
    (row,) = rows_for_new_instances(aws, services, 1)
    fault = fail(dynamodb_client(services), "UpdateItem", "ProvisionedThroughputExceededException",
                 when=lambda body: b"stop-requested" not in body and b"published_seq" not in body)
    try:
        return row, decisions.stop(services, row.id, "U-alice")
    finally:
        fault.remove()


def test_throughput_exceeded_on_the_outcome_is_repaired_by_the_sweep(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    row, result = stop_with_its_outcome_write_lost(aws, services)
    assert result.outcome is Outcome.STOPPED and not result.audit_published
    assert "the repair sweep will record it" in result.message
    assert services.store.get(row.id).state is DecisionState.STOPPING

    reconcile(after(services, 10))

    stored = services.store.get(row.id)
    figures.record("faults", "DynamoDB throughput exceeded on the outcome, then one sweep", tried=1,
                   lost=int(stored.state is not DecisionState.STOPPED or stored.unpublished))
    assert stored.state is DecisionState.STOPPED and not stored.unpublished
    assert instance_state(aws, row.instance_id) in ("stopping", "stopped")


def test_a_sweep_after_the_owner_started_the_instance_again_never_stops_it_twice(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    # The stop went through but its outcome write was lost; the owner then started the instance again.
    row, result = stop_with_its_outcome_write_lost(aws, services)
    claimed = services.store.get(row.id)
    assert result.outcome is Outcome.STOPPED and claimed.state is DecisionState.STOPPING
    assert claimed.updated_at is not None
    aws.started_again(row.instance_id, at=claimed.updated_at + timedelta(minutes=2))
    log = CallLog()
    ec2 = log.attach(aws.client("ec2"))

    report = reconcile(after(replace(services, ec2=lambda r: Ec2Gateway(ec2, r)), 10))

    stored = services.store.get(row.id)
    wrong = log.counts["StopInstances"] + int(instance_state(aws, row.instance_id) != "running")
    figures.record("faults", "outcome write lost, owner started the instance again, then one sweep", tried=1,
                   unwanted=wrong, lost=int(stored.state is not DecisionState.SKIPPED or stored.unpublished),
                   note=f"{log.counts['StopInstances']} StopInstances by the sweep; recorded {stored.state.value}: "
                        f"{stored.reason}")
    assert [d.id for d in report.finished] == [row.id] and wrong == 0
    assert stored.state is DecisionState.SKIPPED and (stored.reason or "").startswith("started again after the click")
    assert not stored.unpublished


def test_a_pynamodb_error_on_one_decision_never_stops_the_sweep(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    first, second, unanswered = rows_for_new_instances(aws, services, 3)
    past = services.clock() - timedelta(minutes=10)
    for row in (first, second):  # two stops whose runs died after the claim, of instances running for days
        aws.launched_at(row.instance_id, past - timedelta(days=3))
        services.store.transition(row.id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                                  event="stop-requested", now=past, actor="U-alice")
    aws.set_expiry(unanswered.id, past)
    # Every write about the first decision fails in pynamodb's own botocore client, retries included.
    fault = fail(dynamodb_client(services), "UpdateItem", "ProvisionedThroughputExceededException",
                 when=lambda body: first.id.encode() in body)
    try:
        report = reconcile(services)
    finally:
        fault.remove()
    again = reconcile(services)

    states = {row.id: services.store.get(row.id).state for row in (first, second, unanswered)}
    expected = {first.id: DecisionState.STOPPED, second.id: DecisionState.STOPPED,
                unanswered.id: DecisionState.EXPIRED}
    figures.record("faults", "pynamodb error on one decision during the repair sweep, then the next sweep",
                   tried=3, unwanted=int([d.id for d in report.finished] != [second.id]),
                   lost=sum(states[k] is not v for k, v in expected.items()),
                   note=f"{fault()} UpdateItem attempts refused; the sweep finished {len(report.finished)}, "
                        f"expired {len(report.expired)}, reported {len(report.errors)} error; the next one "
                        f"finished the rest")
    assert [d.id for d in report.finished] == [second.id] and [d.id for d in report.expired] == [unanswered.id]
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{first.id}: ")
    assert [d.id for d in again.finished] == [first.id] and states == expected


def test_an_s3_outage_during_100_decisions_loses_none_after_one_sweep(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    rows = rows_for_new_instances(aws, services, 100)
    s3 = aws.client("s3", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    fault = fail(s3, "PutObject", "SlowDown", status=503)
    outage = aws.services(audit=S3AuditLog(s3, aws.bucket))

    results = [decisions.keep(outage, row.id, f"U-{n}") for n, row in enumerate(rows)]
    assert all(r.outcome is Outcome.KEPT and not r.audit_published for r in results)
    assert len(services.store.unpublished()) == 100
    fault.remove()

    report = reconcile(services)

    written = {key.split("/")[4] for key in services.audit.keys()}
    lost = sum(1 for row in rows if row.id not in written)
    figures.record("faults", "S3 SlowDown (503) during 100 decisions, then one sweep", tried=100, lost=lost,
                   note=f"{fault()} PutObject refused; sweep published {report.published}")
    assert lost == 0 and report.published == 100
    assert services.store.unpublished() == []


def test_a_process_killed_between_stop_and_outcome_is_finished_by_the_sweep(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    (row,) = rows_for_new_instances(aws, services, 1)
    script = textwrap.dedent(f"""
        import os
        from reaper import decisions
        from reaper.aws.ec2 import Ec2Gateway
        from reaper.bootstrap import build
        from tests.aws import AwsEnv

        client = AwsEnv({aws.url!r}).client("ec2")
        # Die the instant EC2 has accepted the stop, before the outcome is written.
        client.meta.events.register("after-call.ec2.StopInstances", lambda **_: os._exit(137))
        services = build(ec2=lambda region: Ec2Gateway(client, region))
        decisions.stop(services, {row.id!r}, "U-alice")
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **aws.env()}, timeout=60)
    assert run.returncode == 137
    assert services.store.get(row.id).state is DecisionState.STOPPING
    assert instance_state(aws, row.instance_id) in ("stopping", "stopped")

    report = reconcile(after(services, 10))

    stored = services.store.get(row.id)
    figures.record("faults", "process killed between StopInstances and the outcome write, then one sweep",
                   tried=1, lost=int(stored.state is not DecisionState.STOPPED))
    assert [d.id for d in report.finished] == [row.id]
    assert stored.state is DecisionState.STOPPED and not stored.unpublished


def test_a_scan_with_30_percent_of_look_ups_throttled_at_first_still_judges_every_instance(
    aws: AwsEnv, services: Services, seed: Seed, figures: Figures
) -> None:
    # Idle candidates in two regions, so each region's stop-protection look-ups meet the
    # fault; busy ones are never looked up. Each chosen look-up is throttled on its first
    # attempt (RequestLimitExceeded, HTTP 503, as EC2 answers it), then answered. Throttled
    # this early, adaptive mode paces the client from botocore's lowest rate and speeds up
    # again, so the scan takes a few seconds longer than unthrottled: kept small on purpose.
    idle = [quiet(f"idle-{n}") for n in range(7)] + [quiet(f"idle-other-{n}", OTHER) for n in range(3)]
    ids = seed([*idle, busy("busy-1"), busy("busy-2", OTHER)])
    chosen = {ids[m.name] for n, m in enumerate(idle) if n in (0, 4, 8)}  # 3 of 10, in both regions
    assert len(chosen) == round(0.3 * len(idle))
    throttled: set[str] = set()

    def first_time(body: bytes) -> bool:
        instance_id = parse_qs(body.decode())["InstanceId"][0]
        if instance_id in chosen and instance_id not in throttled:
            throttled.add(instance_id)
            return True
        return False

    clients = Clients(aws.settings)  # the real clients: EC2's in adaptive retry mode
    faults = [fail(clients.client("ec2", region), "DescribeInstanceAttribute", "RequestLimitExceeded",
                   status=503, times=len(chosen), when=first_time) for region in aws.regions]

    report = find_idle(replace(services, ec2=lambda r: Ec2Gateway(clients.client("ec2", r), r)))

    unchecked = [f.instance.name for f in report.skipped if f.skip and f.skip.reason is SkipReason.UNCHECKED]
    judged = {f.instance.instance_id for f in report.findings}
    missing = sum(1 for instance_id in ids.values() if instance_id not in judged)
    injected = sum(fault() for fault in faults)
    figures.record("faults", "30 % of look-ups throttled at scan time", tried=len(idle),
                   unwanted=len(unchecked) + missing + len(report.errors),
                   note=f"{injected} of {len(idle)} stop-protection look-ups throttled once, retried in adaptive mode; "
                        f"{len(report.errors)} regions failed, {len(report.proposed)} of {len(idle)} idle offered")
    assert injected == len(chosen) and throttled == chosen
    assert report.errors == {} and missing == 0
    assert unchecked == [] and {f.instance.name for f in report.proposed} == {m.name for m in idle}
