"""How a report words change and evidence (bot.digest, bot.blocks): sparklines, groups, summary, closed rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bot.blocks import report_messages, status_text
from bot.digest import sparkline, summary_line, why_text
from reaper.changes import Changes, Summary
from reaper.model import Decision, DecisionState, Evidence, Finding, Instance, ScanReport, Verdict, VerdictKind
from reaper.settings import IdlePolicy

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_a_sparkline_scales_known_daily_averages_to_the_threshold() -> None:
    # Seven steps above the lowest bar: 0.5 % of a 5 % threshold is 0.7 of a step, so the second bar.
    assert sparkline([0.0, 0.5, 2.5, 5.0], top=5.0) == "▁▂▅█"
    assert sparkline([0.0, 1.0, 2.5, 5.0, 7.0], top=5.0) == "▁▂▃▆█"  # a day over the top is the top: the rest /7
    assert sparkline([0.0, 2.5, 5.0], top=5.0) == "▁▅█"
    assert sparkline([0.3] * 14, top=5.0) == "▁" * 14  # flat and low reads flat and low
    assert sparkline([0.0, 0.0]) == "▁▁" and sparkline([]) == ""


def test_a_sparkline_without_a_threshold_scales_to_its_highest_day() -> None:
    assert sparkline([1.0, 2.0, 4.0]) == "▃▅█"


def test_the_why_line_shows_the_sparkline_and_the_peak_days_cpu_and_network() -> None:
    evidence = Evidence(3, 4.0, 1.5, 0.3, 0.9, 0, peak_cpu_day=date(2026, 11, 30),
                        daily_cpu=(0.0, 2.5, 5.0), peak_day_network_mb=0.9)

    assert why_text(evidence, 5.0) == "`▁▅█` CPU by day (0–5 %) · peak day 30 Nov: CPU 4.0 %, network 0.9 MB"


def test_the_summary_line_names_what_happened_since_the_last_report() -> None:
    since = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    assert summary_line(Summary(since, stopped=2, kept=1, busy_again=("i-1",))) == (
        "Since the last report (1 Dec 09:00 UTC): 2 stopped, 1 kept, 1 busy again (`i-1`).")
    assert summary_line(Summary(since)) == (
        "Since the last report (1 Dec 09:00 UTC): nothing stopped, kept or busy again.")


def finding(instance_id: str) -> Finding:
    instance = Instance(instance_id, "us-east-1", "t3.small", NOW - timedelta(days=40))
    evidence = Evidence(14, 2.0, 0.5, 0.1, 0.2, 0, peak_cpu_day=date(2026, 11, 28), daily_cpu=(0.5,) * 14,
                        peak_day_network_mb=0.2)
    return Finding(instance, Verdict(VerdictKind.IDLE, evidence, "idle"))


def row(instance_id: str, reports: int = 1) -> Decision:
    return Decision(f"d-{instance_id}", instance_id, "us-east-1", DecisionState.PENDING, NOW, NOW + timedelta(days=3),
                    reports=reports, idle_since=NOW - timedelta(days=20))


def test_the_report_says_what_is_new_at_the_top_and_groups_new_before_still_idle() -> None:
    old, new = finding("i-old"), finding("i-new")
    previous = {("us-east-1", "i-old"): (row("i-old"),)}
    changes = Changes(Summary(NOW - timedelta(days=1), stopped=1), previous)
    scan = ScanReport(("us-east-1",), (new, old), NOW, NOW, policy=IdlePolicy())

    [message] = report_messages(scan, [(new, row("i-new")), (old, row("i-old", reports=3))], NOW, changes=changes)

    texts = [str(b.get("text", {}).get("text", "")) + str(b.get("elements", "")) for b in message.blocks]
    assert message.text.startswith("1 new, 1 still idle.")
    # Right under the totals: what is new, then what happened.
    assert "in us-east-1\n*1 new* since the last report, 1 still idle\nSince the last report" in texts[1]
    heading_new = next(i for i, t in enumerate(texts) if "New since the last report (1)" in t)
    heading_still = next(i for i, t in enumerate(texts) if "Still idle (1)" in t)
    row_new = next(i for i, t in enumerate(texts) if "`i-new`" in t)
    row_old = next(i for i, t in enumerate(texts) if "`i-old`" in t)
    assert heading_new < row_new < heading_still < row_old
    assert "Still idle: 3rd report in a row, idle since 12 Nov (20 days)" in texts[row_old]
    assert "`▂▂▂▂▂▂▂▂▂▂▂▂▂▂` CPU by day (0–5 %)" in texts[row_new]


def test_a_superseded_row_links_the_newer_report_and_has_no_buttons() -> None:
    closed = replace(row("i-old"), state=DecisionState.SUPERSEDED, superseded_by="d-x")

    text = status_text(closed, newer_link="https://example.slack.com/archives/C1/p1")

    assert text == (":arrow_heading_down: Offered again in "
                    "<https://example.slack.com/archives/C1/p1|the newer report>: answer there")


def test_the_sparkline_is_drawn_from_the_daily_averages_an_idle_verdict_was_judged_on() -> None:
    from reaper.model import DailyUsage
    from reaper.policy import judge

    days = [DailyUsage(date(2026, 11, d), cpu_percent=c, cpu_peak_percent=c + 1, network_in_bytes=n * 1e6)
            for d, c, n in [(27, 0.0, 0.1), (28, 5.0, 0.4), (30, 2.5, 0.2)]]
    days.insert(2, DailyUsage(date(2026, 11, 29)))  # CloudWatch had nothing that day

    verdict = judge(days, IdlePolicy())

    assert verdict.kind is VerdictKind.IDLE
    assert verdict.evidence.daily_cpu == (0.0, 5.0, 2.5)  # the day without data is not drawn as 0 %
    assert why_text(verdict.evidence, 5.0) == "`▁█▅` CPU by day (0–5 %) · peak day 28 Nov: CPU 6.0 %, network 0.4 MB"


def test_a_busy_verdict_carries_no_sparkline() -> None:
    from reaper.model import DailyUsage
    from reaper.policy import judge

    days = [DailyUsage(date(2026, 11, d), cpu_percent=50.0, cpu_peak_percent=60.0) for d in (27, 28, 29)]

    assert judge(days, IdlePolicy()).evidence.daily_cpu == ()


def test_a_report_with_nothing_idle_still_says_what_happened_since_the_last_one() -> None:
    changes = Changes(Summary(NOW - timedelta(days=1), stopped=2))
    scan = ScanReport(("us-east-1",), (), NOW, NOW, policy=IdlePolicy())

    [message] = report_messages(scan, [], NOW, changes=changes)

    texts = [str(b.get("text", {}).get("text", "")) for b in message.blocks]
    assert texts[1].endswith("\nSince the last report (1 Dec 09:00 UTC): 2 stopped.")
    assert not any("new* since the last report" in t for t in texts)


def test_a_long_grouped_report_keeps_every_message_within_slacks_50_blocks() -> None:
    from bot.blocks import MAX_BLOCKS
    from reaper.money import InstanceCost

    cost = InstanceCost(0.1016, storage_monthly=0.8)
    findings = [replace(finding(f"i-{n:04d}"), cost=cost) for n in range(70)]
    previous = {("us-east-1", f.instance.instance_id): (row(f.instance.instance_id),) for f in findings[::3]}
    changes = Changes(Summary(NOW - timedelta(days=1), stopped=1), previous)
    ordered = changes.order(findings)
    scan = ScanReport(("us-east-1", "eu-west-1"), tuple(findings), NOW, NOW, {"eu-west-1": "AccessDenied"},
                      policy=IdlePolicy())

    messages = report_messages(scan, [(f, row(f.instance.instance_id)) for f in ordered], NOW, changes=changes)

    assert len(messages) == 4
    # A region not scanned comes first, then what is new, then the totals.
    assert messages[0].text == "Not scanned: eu-west-1. 46 new, 24 still idle. 70 idle of 70 instances in us-east-1"
    assert all(len(m.blocks) <= MAX_BLOCKS for m in messages)
    headings = [b for m in messages for b in m.blocks if "New since" in str(b) or "*:repeat: Still idle (" in str(b)]
    assert len(headings) == 2  # one heading a group, not one a message
