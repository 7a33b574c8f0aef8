"""The report row as Slack shows it: a pure function from a finding to Block Kit, Stop dialog included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.blocks import MAX_CONFIRM, STOP_ACTION, report_messages, row_blocks, savings_message, status_text, summary_text
from reaper.model import (
    Decision,
    DecisionState,
    Evidence,
    Finding,
    Instance,
    ScanReport,
    Skip,
    SkipReason,
    Verdict,
    VerdictKind,
)
from reaper.money import InstanceCost, Savings

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
# -- money ----------------------------------------------------------------------------------

IDLE = Verdict(VerdictKind.IDLE, Evidence(14, 9.0, 0.5, 0.3, 0.5, 0), "idle")


def _finding(instance_id: str, cost: InstanceCost | None) -> Finding:
    instance = Instance(instance_id, "us-east-1", "t3.large", NOW - timedelta(days=40))
    return Finding(instance, IDLE, cost=cost)


def _row(cost: InstanceCost | None, hourly_saving: float | None = None) -> list[dict]:
    decision = Decision("d-1", "i-0abc", "us-east-1", DecisionState.PENDING, NOW, NOW + timedelta(days=3),
                        hourly_saving=hourly_saving)
    return row_blocks(_finding("i-0abc", cost), decision, NOW)


def test_a_row_shows_its_monthly_cost_what_a_stop_saves_and_what_keeps_costing() -> None:
    section, _ = _row(InstanceCost(0.1016, storage_monthly=0.8, ipv4_hourly=0.005, kept_ipv4_hourly=0.005))

    assert "Costs ~$79/month · a Stop saves ~$74/month · EBS and IPv4 keep costing ~$4.45" in section["text"]["text"]


def test_a_row_without_a_price_says_unknown_never_zero() -> None:
    section, _ = _row(InstanceCost(None, storage_monthly=None))

    text = section["text"]["text"]
    assert "Cost unknown · what a Stop saves is unknown · what keeps costing is unknown" in text
    assert "$0" not in text


def test_the_stop_confirmation_names_the_monthly_saving() -> None:
    _, actions = _row(InstanceCost(0.1016), hourly_saving=0.1016)

    confirm = actions["elements"][0]["confirm"]["text"]["text"]
    assert confirm.endswith("Stopping it saves ~$74/month (list price).")


def test_the_stop_confirmation_claims_no_saving_it_does_not_know() -> None:
    _, actions = _row(None)

    assert "saves" not in actions["elements"][0]["confirm"]["text"]["text"]


def test_the_report_header_carries_the_money_the_month_and_the_list_price_note_once() -> None:
    findings = (_finding("i-1", InstanceCost(0.1016, 0.8, 0.005, 0.005)), _finding("i-2", InstanceCost(None, None)))
    month = Savings(total=412.5, this_month=120.25, by_approver={"U0ALICE": 412.5}, stops=3, accruing=2,
                    since=NOW - timedelta(days=60))
    report = ScanReport(("us-east-1",), findings, NOW, NOW, savings=month)
    rows = [(f, Decision(f"d-{n}", f.instance.instance_id, "us-east-1", DecisionState.PENDING, NOW, NOW))
            for n, f in enumerate(report.proposed)]

    [message] = report_messages(report, rows, NOW)

    summary = summary_text(report)
    assert (":moneybag: 2 idle instances cost ~$79/month; stopping them saves ~$74/month "
            "(EBS and IPv4 keep costing ~$4.45); 1 without a list price, not counted.") in summary
    assert "Stops have saved ~$120 this month, ~$412 since 1 Oct 2026." in summary
    notes = [b for b in message.blocks if b["type"] == "context" and "before discounts" in str(b)]
    assert len(notes) == 1


def test_savings_answer_the_total_this_month_and_by_approver() -> None:
    summary = Savings(total=412.5, this_month=120.25, by_approver={"U0BOB": 12.0, "U0ALICE": 400.5}, stops=3,
                      accruing=1, unpriced=1, since=NOW - timedelta(days=60))

    message = savings_message(summary)

    text = message.blocks[0]["text"]["text"]
    assert "• Since install: ~$412" in text and "• This month (UTC): ~$120" in text
    assert text.index("<@U0ALICE>: ~$400") < text.index("<@U0BOB>: ~$12")
    assert "without a known price: 1" in text
    assert message.text == "Saved ~$120 this month, ~$412 since install"


def test_a_row_says_nothing_about_money_when_prices_are_off() -> None:
    section, _ = _row(None)

    assert "Cost" not in section["text"]["text"] and "$" not in section["text"]["text"]
