"""Dry run and hibernate (issue 15, part 3), on in-memory fakes: what a stop sends to EC2 and what it records."""

from __future__ import annotations

import pytest

from reaper import decisions, sweep
from reaper.model import DecisionState, Finding, Outcome, StopAttempt
from reaper.policy import judge
from reaper.scan import find_idle
from tests.fakes.core import HOME, FakeWorld


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture
def dry(world: FakeWorld) -> FakeWorld:
    world.env["REAPER_DRY_RUN"] = "true"
    return world


def offer(world: FakeWorld, instance_id: str = "i-idle", **launch: object) -> decisions.Decision:
    instance = world.launch(instance_id, **launch)  # type: ignore[arg-type]
    verdict = judge(world.metrics[HOME].usage[instance_id], world.settings.policy)
    (row,) = decisions.propose(world.services, [Finding(instance, verdict)], channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])
    return row


def stop(world: FakeWorld, row: decisions.Decision) -> decisions.Result:
    return decisions.stop(world.services, row.id, "U-alice", channel="C1", message_ts="1.1")


# -- dry run -------------------------------------------------------------------------------------


def test_a_dry_run_stop_stops_nothing_and_records_a_would_stop(dry: FakeWorld) -> None:
    row = offer(dry)

    result = stop(dry, row)

    assert result.outcome is Outcome.WOULD_STOP and result.audit_published
    assert dry.ec2().stopped == [] and dry.ec2().dry_runs == ["i-idle"]
    assert dry.ec2().instances["i-idle"].state == "running"
    stored = dry.store.records[row.id]
    assert stored.state is DecisionState.WOULD_STOP and stored.actor == "U-alice"
    assert [e["event"] for e in stored.events] == ["stop-requested", "would-stop"]


def test_every_audit_document_of_a_dry_run_stop_says_dry_run(dry: FakeWorld) -> None:
    row = offer(dry)

    stop(dry, row)

    documents = [dry.audit.documents[k] for k in sorted(dry.audit.documents)]
    assert [d["event"] for d in documents] == ["stop-requested", "would-stop"]
    assert all(d["dry_run"] is True for d in documents)
    assert documents[1]["outcome"] == "would_stop" and "DRY RUN" in str(documents[0]["reason"])


def test_a_real_stop_is_not_marked_dry_run_in_its_audit(world: FakeWorld) -> None:
    stop(world, offer(world))

    assert [d["dry_run"] for d in world.audit.documents.values()] == [False, False]


def test_a_dry_run_that_ec2_would_refuse_is_recorded_as_failed_and_says_why(dry: FakeWorld) -> None:
    row = offer(dry)
    dry.ec2().refusals["i-idle"] = StopAttempt(
        DecisionState.FAILED, "DRY RUN: the stop would not go through: the reaper's IAM role may not stop this "
        "instance", "UnauthorizedOperation")

    result = stop(dry, row)

    assert result.outcome is Outcome.FAILED and "would not go through" in result.message
    assert dry.store.records[row.id].state is DecisionState.FAILED


def test_a_dry_run_cli_stop_is_a_would_stop_too(dry: FakeWorld) -> None:
    dry.launch("i-idle")

    result = decisions.stop_instance(dry.services, "i-idle", "alice")

    assert result.outcome is Outcome.WOULD_STOP and dry.ec2().stopped == []


def test_a_dry_run_still_rechecks_first(dry: FakeWorld) -> None:
    row = offer(dry, tags={"reaper:exempt": "true"})

    result = stop(dry, row)

    assert result.outcome is Outcome.SKIPPED and dry.ec2().dry_runs == []


def test_the_repair_sweep_in_a_dry_run_retries_an_interrupted_stop_as_a_dry_run(dry: FakeWorld) -> None:
    row = offer(dry)
    dry.store.transition(row.id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                         event="stop-requested", now=dry.clock(), actor="U-alice")
    dry.clock.advance(minutes=10)

    report = sweep.reconcile(dry.services)

    assert [d.state for d in report.finished] == [DecisionState.WOULD_STOP]
    assert dry.ec2().stopped == []


def test_the_scan_report_says_dry_run(dry: FakeWorld) -> None:
    dry.launch("i-idle")

    assert find_idle(dry.services).to_json()["dry_run"] is True
    assert find_idle(FakeWorld().services).to_json()["dry_run"] is False


# -- hibernate -----------------------------------------------------------------------------------


def test_an_instance_configured_for_hibernation_is_hibernated(world: FakeWorld) -> None:
    row = offer(world, hibernation_configured=True)

    result = stop(world, row)

    assert result.outcome is Outcome.STOPPED and world.ec2().hibernated == ["i-idle"]
    stored = world.store.records[row.id]
    assert stored.last_event == "hibernated" and "hibernated" in str(stored.reason)


def test_an_instance_without_hibernation_is_stopped_plainly(world: FakeWorld) -> None:
    stop(world, offer(world))

    assert world.ec2().stopped == ["i-idle"] and world.ec2().hibernated == []


def test_a_refused_hibernation_falls_back_to_a_plain_stop_and_records_why(world: FakeWorld) -> None:
    row = offer(world, hibernation_configured=True)
    world.ec2().hibernation_refusals["i-idle"] = "UnsupportedHibernationConfiguration"

    result = stop(world, row)

    assert result.outcome is Outcome.STOPPED
    assert world.ec2().stopped == ["i-idle"] and world.ec2().hibernated == []
    stored = world.store.records[row.id]
    assert stored.last_event == "stopped-without-hibernation"
    assert "not hibernated" in str(stored.reason) and "UnsupportedHibernationConfiguration" in str(stored.reason)
    assert any(k.endswith("0002-stopped-without-hibernation.json") for k in world.audit.documents)


def test_a_dry_run_of_a_hibernation_stops_nothing(dry: FakeWorld) -> None:
    row = offer(dry, hibernation_configured=True)

    result = stop(dry, row)

    assert result.outcome is Outcome.WOULD_STOP and dry.ec2().hibernated == [] and dry.ec2().stopped == []


# -- what Slack shows ------------------------------------------------------------------------------


def test_every_report_message_and_row_says_dry_run(dry: FakeWorld) -> None:
    from bot.blocks import report_messages

    for n in range(3):
        dry.launch(f"i-idle{n}")
    report = find_idle(dry.services)
    rows = decisions.propose(dry.services, report.proposed, channel=None, message_ts=None)

    messages = report_messages(report, list(zip(report.proposed, rows, strict=True)), dry.clock(), per_message=2)

    assert len(messages) == 2 and all("DRY RUN" in m.text for m in messages)
    assert "DRY RUN" in messages[0].blocks[0]["text"]["text"]
    sections = [b for m in messages for b in m.blocks if str(b.get("block_id", "")).startswith("row:")]
    assert len(sections) == 3 and all("DRY RUN" in b["text"]["text"] for b in sections)
    buttons = [e for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["text"]["text"] for e in buttons if e["action_id"] == "stop_instance"] == ["Stop (dry run)"] * 3


def test_a_report_without_dry_run_does_not_mention_it(world: FakeWorld) -> None:
    from bot.blocks import report_messages

    world.launch("i-idle")
    report = find_idle(world.services)
    rows = decisions.propose(world.services, report.proposed, channel=None, message_ts=None)

    (message,) = report_messages(report, list(zip(report.proposed, rows, strict=True)), world.clock())

    assert "DRY RUN" not in str(message.blocks) and "DRY RUN" not in message.text


def test_a_row_of_an_instance_configured_for_hibernation_says_stop_hibernates_it(world: FakeWorld) -> None:
    from bot.blocks import report_messages

    world.launch("i-sleepy", hibernation_configured=True)
    report = find_idle(world.services)
    rows = decisions.propose(world.services, report.proposed, channel=None, message_ts=None)

    (message,) = report_messages(report, list(zip(report.proposed, rows, strict=True)), world.clock())

    row = next(b for b in message.blocks if str(b.get("block_id", "")).startswith("row:"))
    assert "Stop hibernates it" in row["text"]["text"]
    confirm = next(b for b in message.blocks if b["type"] == "actions")["elements"][0]["confirm"]["text"]["text"]
    assert "will be hibernated" in confirm and "memory is saved" in confirm


def test_the_row_status_says_hibernated_or_why_not_hibernated(world: FakeWorld) -> None:
    from bot.blocks import status_text

    sleepy = offer(world, "i-sleepy", hibernation_configured=True)
    refused = offer(world, "i-refused", hibernation_configured=True)
    world.ec2().hibernation_refusals["i-refused"] = "UnsupportedHibernationConfiguration"
    stop(world, sleepy)
    stop(world, refused)

    assert str(status_text(world.store.records[sleepy.id])).startswith(":sleeping: Hibernated by U-alice")
    assert "not hibernated, as EC2 refused: UnsupportedHibernationConfiguration" in str(
        status_text(world.store.records[refused.id]))


def test_a_dry_run_row_status_says_would_stop(dry: FakeWorld) -> None:
    from bot.blocks import status_text

    row = offer(dry)
    stop(dry, row)

    assert str(status_text(dry.store.records[row.id])).startswith(":test_tube: DRY RUN: would stop")


def test_the_repair_sweep_in_a_dry_run_never_records_a_stop_someone_else_made(dry: FakeWorld) -> None:
    from dataclasses import replace

    row = offer(dry)
    dry.store.transition(row.id, source=DecisionState.PENDING, target=DecisionState.STOPPING,
                         event="stop-requested", now=dry.clock(), actor="U-alice")
    ec2 = dry.ec2()
    ec2.instances["i-idle"] = replace(ec2.instances["i-idle"], state="stopped")  # its owner stopped it
    dry.clock.advance(minutes=10)

    (finished,) = sweep.reconcile(dry.services).finished

    assert finished.state is DecisionState.SKIPPED and "DRY RUN" in str(finished.reason)
