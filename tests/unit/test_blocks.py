"""The report row as Slack shows it: a pure function from a finding to Block Kit, Stop dialog included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.blocks import MAX_CONFIRM, STOP_ACTION, row_blocks, status_text
from reaper.model import Decision, DecisionState, Evidence, Finding, Instance, Skip, SkipReason, Verdict, VerdictKind

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def row_text(evidence: Evidence) -> str:
    instance = Instance("i-0abc", "us-east-1", "t3.large", NOW - timedelta(days=40), tags={"Name": "dev-box"})
    decision = Decision("d-1", "i-0abc", "us-east-1", DecisionState.PENDING, NOW, NOW + timedelta(days=3))
    section, _actions = row_blocks(Finding(instance, Verdict(VerdictKind.IDLE, evidence, "idle")), decision, NOW)
    return str(section["text"]["text"])


def test_a_row_shows_the_average_the_highest_peak_and_its_day() -> None:
    evidence = Evidence(14, 17.5, 0.4, 0.3, 0.5, 0, peak_cpu_day=date(2026, 11, 22))

    assert "Idle 14 days · CPU avg 0.4 %, peak 17.5 % on 22 Nov · network 0.3 MB/day" in row_text(evidence)


def test_a_row_without_a_peak_day_says_so_plainly() -> None:
    assert "peak 0.9 % · network" in row_text(Evidence(14, 0.9, 0.5, 0.2, 0.4, 0))


def stop_dialog(finding: Finding) -> str:
    decision = Decision("d-1", finding.instance.instance_id, "us-east-1", DecisionState.PENDING, NOW,
                        NOW + timedelta(days=3))
    _section, actions = row_blocks(finding, decision, NOW)
    stop = next(e for e in actions["elements"] if e["action_id"] == STOP_ACTION)
    return str(stop["confirm"]["text"]["text"])


def idle(instance: Instance, skip: Skip | None = None) -> Finding:
    return Finding(instance, Verdict(VerdictKind.IDLE, Evidence(14, 0.9, 0.5, 0.2, 0.4, 0), "idle"), skip)


def test_the_stop_dialog_says_the_volumes_and_their_data_stay_because_only_ebs_is_offered() -> None:
    text = stop_dialog(idle(Instance("i-0abc", "us-east-1", "t3.large", NOW, tags={"Name": "dev-box"})))

    assert text.startswith("i-0abc (dev-box) will be stopped (not terminated).")
    assert "EBS volumes only: they and their data stay" in text and "memory is lost" in text


def test_an_instance_that_is_not_offered_gets_no_stop_dialog_to_lie_in() -> None:
    # An m5d has an EBS root and local disks a stop would erase: no dialog may tell its owner
    # that its data stays. Eligibility never offers it; the renderer refuses it too.
    m5d = Instance("i-0m5d", "us-east-1", "m5d.large", NOW)

    with pytest.raises(ValueError, match="not offered"):
        stop_dialog(idle(m5d, Skip(SkipReason.LOCAL_DISKS)))


def test_a_long_name_is_clipped_but_never_the_facts() -> None:
    text = stop_dialog(idle(Instance("i-0abc", "us-east-1", "t3.large", NOW, tags={"Name": "n" * 280})))

    assert len(text) <= MAX_CONFIRM
    assert text.endswith("What is in its memory is lost.")


def decided(state: DecisionState, reason: str | None) -> Decision:
    return Decision("d-1", "i-0abc", "us-east-1", state, NOW, NOW + timedelta(days=3), actor="U0ALICE",
                    decided_at=NOW, reason=reason)


def test_a_skipped_row_says_not_stopped_once_then_why_and_who_asked() -> None:
    assert status_text(decided(DecisionState.SKIPPED, "tagged reaper:exempt")) == (
        ":information_source: Not stopped: tagged reaper:exempt; asked by <@U0ALICE>")


def test_a_skip_reason_with_its_own_figures_reads_as_one_sentence() -> None:
    reason = "busy since the report (CPU 81 % on 3 Dec)"

    assert status_text(decided(DecisionState.SKIPPED, reason)) == (
        ":information_source: Not stopped: busy since the report (CPU 81 % on 3 Dec); asked by <@U0ALICE>")


def test_a_failed_row_says_why_and_who_asked() -> None:
    assert status_text(decided(DecisionState.FAILED, "could not check: RequestLimitExceeded")) == (
        ":x: Stop failed: could not check: RequestLimitExceeded; asked by <@U0ALICE>")
