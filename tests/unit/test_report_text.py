"""A scan report in the terminal and in Slack: failures first, failed regions never counted as scanned."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from bot.blocks import report_messages, summary_text
from reaper.cli import print_report
from reaper.model import Evidence, Finding, Instance, ScanReport, Verdict, VerdictKind

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BUSY = Verdict(VerdictKind.BUSY, Evidence(14, 60.0, 40.0, 900.0, 1200.0, 14), "busy on 14 of 14 days")


def _busy(instance_id: str, region: str) -> Finding:
    return Finding(Instance(instance_id, region, "t3.micro", NOW - timedelta(days=30)), BUSY)


def _report(findings: list[Finding], regions: tuple[str, ...], errors: dict[str, str]) -> ScanReport:
    return ScanReport(regions, tuple(findings), NOW, NOW + timedelta(seconds=2), errors)


PARTLY_FAILED = _report([_busy(f"i-{n:017x}", "us-east-1") for n in range(8)], ("us-east-1", "eu-west-1"),
                        {"eu-west-1": "UnauthorizedOperation: You are not authorized"})
NOTHING_RUNNING = _report([], ("us-east-1",), {})


def _printed(report: ScanReport) -> list[str]:
    out = io.StringIO()
    print_report(report, 14, out)
    return out.getvalue().splitlines()


def test_the_terminal_report_names_a_failed_region_first_and_counts_only_the_scanned_ones() -> None:
    lines = _printed(PARTLY_FAILED)

    assert lines[0] == "WARNING: eu-west-1 was not scanned: UnauthorizedOperation: You are not authorized"
    assert lines[2] == "Instance Reaper: 0 idle of 8 running instances in us-east-1 (last 14 days)"
    assert not any("eu-west-1" in line for line in lines[1:])


def test_the_terminal_report_says_when_nothing_is_running() -> None:
    lines = _printed(NOTHING_RUNNING)

    assert lines == ["Instance Reaper: no running instances in us-east-1: nothing to judge. Scan took 2.0 s."]


def test_the_slack_report_puts_the_failed_region_before_the_totals() -> None:
    [message] = report_messages(PARTLY_FAILED, [], NOW)

    texts = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert texts[0] == ":warning: *Not scanned:*\n• eu-west-1: UnauthorizedOperation: You are not authorized"
    assert texts[1] == "*0 idle* of 8 running instances in us-east-1"
    assert message.text == "Not scanned: eu-west-1. 0 idle of 8 instances in us-east-1"


def test_the_slack_report_says_when_nothing_is_running() -> None:
    [message] = report_messages(NOTHING_RUNNING, [], NOW)

    assert summary_text(NOTHING_RUNNING) == "*No running instances* in us-east-1: nothing to judge."
    assert message.text == "No running instances in us-east-1"
    assert "earning its keep" not in str(message.blocks)


def _idle(instance_id: str, cost: object = None) -> Finding:
    evidence = Evidence(14, 9.0, 0.5, 0.3, 0.5, 0)
    return Finding(Instance(instance_id, "us-east-1", "t3.large", NOW - timedelta(days=30)),
                   Verdict(VerdictKind.IDLE, evidence, "idle"), cost=cost)  # type: ignore[arg-type]


def test_a_report_without_prices_says_nothing_about_money() -> None:
    report = _report([_idle("i-1"), _idle("i-2")], ("us-east-1",), {})  # REAPER_PRICES=off: nothing priced

    lines = _printed(report)

    assert not [line for line in lines if "cost" in line.lower() and "idle instances" in line]
    assert "List price" not in "\n".join(lines) and "$" not in summary_text(report)


def test_a_report_whose_prices_are_unknown_says_so_rather_than_zero() -> None:
    from reaper.money import InstanceCost

    report = _report([_idle("i-1", InstanceCost(None, None))], ("us-east-1",), {})

    text = "\n".join(_printed(report))
    assert "1 idle instance: no list price known, so what stopping it saves is unknown." in text
