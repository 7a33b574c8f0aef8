"""How a report words change and evidence: sparklines, "still idle", "since the last report".

Pure functions, text in Slack mrkdwn. What is new, still idle or busy again is the core's
judgement (reaper.changes); this module only words it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from reaper.changes import Changes, Summary
from reaper.model import Decision, Evidence

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], top: float | None = None) -> str:
    """One bar per value, scaled from 0 to `top` (the highest value when None or lower).

    Idle rows are scaled to the policy's CPU threshold rather than to their own highest day,
    so a flat 0.3 % reads as flat and low, not as a wall of noise; a value at or over the
    top is a full bar.
    """
    if not values:
        return ""
    ceiling = max(top or 0.0, *values)
    if ceiling <= 0:
        return BARS[0] * len(values)
    last = len(BARS) - 1
    return "".join(BARS[min(last, max(0, round(v / ceiling * last)))] for v in values)


def why_text(evidence: Evidence, cpu_limit: float | None) -> str:
    """The daily CPU averages the row was judged on, and its peak day's CPU and network."""
    parts = []
    if evidence.daily_cpu:
        scale = f" (0–{cpu_limit:g} %)" if cpu_limit else ""
        parts.append(f"`{sparkline(evidence.daily_cpu, cpu_limit)}` CPU by day{scale}")
    if evidence.peak_cpu_day is not None and evidence.peak_cpu_percent is not None:
        network = evidence.peak_day_network_mb
        traffic = f", network {network:.1f} MB" if network is not None else ""
        parts.append(f"peak day {_day(evidence.peak_cpu_day)}: CPU {evidence.peak_cpu_percent:.1f} %{traffic}")
    return " · ".join(parts)


def history_text(decision: Decision, now: datetime) -> str | None:
    """For a row offered before: in how many reports it has been and since when it is idle."""
    if decision.reports <= 1:
        return None
    text = f":repeat: Still idle: {_ordinal(decision.reports)} report in a row"
    if decision.idle_since is not None:
        days = max(0, (now.date() - decision.idle_since.date()).days)
        text += f", idle since {_day(decision.idle_since.date())} ({days} days)"
    return text


def group_heading(new: bool, count: int) -> str:
    return f"*:new: New since the last report ({count})*" if new else f"*:repeat: Still idle ({count})*"


def headline(changes: Changes, new: int, still: int) -> str:
    """The report's first line about change: what is new, and what became of the last report's rows
    (only the latter when nothing is offered)."""
    if not new and not still:
        return summary_line(changes.summary)
    return f"*{new} new* since the last report, {still} still idle\n{summary_line(changes.summary)}"


def summary_line(summary: Summary) -> str:
    if summary.quiet:
        return f"Since the last report ({_when(summary.since)}): nothing stopped, kept or busy again."
    parts = []
    if summary.stopped:
        parts.append(f"{summary.stopped} stopped")
    if summary.kept:
        parts.append(f"{summary.kept} kept")
    if summary.busy_again:
        ids = ", ".join(f"`{i}`" for i in summary.busy_again[:5])
        more = f" and {len(summary.busy_again) - 5} more" if len(summary.busy_again) > 5 else ""
        parts.append(f"{len(summary.busy_again)} busy again ({ids}{more})")
    return f"Since the last report ({_when(summary.since)}): {', '.join(parts)}."


def superseded_text(link: str | None) -> str:
    """A closed row's status: its buttons live on in the newer report."""
    where = f"<{link}|the newer report>" if link else "the newer report"
    return f":arrow_heading_down: Offered again in {where}: answer there"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(at: date) -> str:
    return f"{at.day} {at:%b}"


def _when(at: datetime) -> str:
    return f"{_day(at.date())} {at:%H:%M} UTC"
