"""The report row as Slack shows it: a pure function from a finding to Block Kit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.blocks import row_blocks
from reaper.model import Decision, DecisionState, Evidence, Finding, Instance, Verdict, VerdictKind

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
