"""The idle policy: three verdicts from daily CloudWatch data, never a guess.

* A day counts as *observed* when CloudWatch returned both its CPUUtilization average
  and its maximum. A day without them is unknown, never 0 %: instances that stopped
  reporting (detached agent, stopped, brand new) are not evidence of idleness. EC2
  publishes the two as one statistic set, so a day with one has the other; should
  CloudWatch ever return only one, the day is not judged rather than half-judged.
* **insufficient data**: fewer than ``min_days`` observed days in the lookback window.
* **idle**: enough observed days, and on *every* observed day the average CPU is
  ≤ ``cpu_percent``, the peak CPU (the day's highest one-minute sample) is
  ≤ ``cpu_peak_percent``, and NetworkIn + NetworkOut is ≤ ``network_mb`` megabytes
  (10^6 bytes). A missing network datapoint on an observed day counts as no traffic,
  since EC2 publishes network and CPU together.
* **busy**: any observed day above any threshold. The peak is what catches a nightly
  hour at full CPU, which averages about 4 % a day; a job rarer than the lookback
  window (a monthly one in 14 days) is not seen at all, which is why the window can
  be raised to 32 days.

At click time (reaper.decisions) ``busy_since`` judges what CloudWatch recorded since the
report by the same thresholds, day by day. The day of the click is partial: its CPU
average and peak are over the hours it has, and its traffic is held to that share of a
day's allowance (5 MB a day allows 1.25 MB by 06:00 UTC). Any value over its threshold
is work, whether or not the day's CPU is there; hours without data prove nothing either
way, so the report's verdict stands on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from reaper.model import DailyUsage, Evidence, Verdict, VerdictKind
from reaper.settings import IdlePolicy

DAY = timedelta(days=1)
# The shortest share of a day a partial day's traffic is held to: a click minutes after
# midnight would otherwise allow a few kilobytes, less than an idle box's agents send.
SHORTEST_PARTIAL_DAY = timedelta(hours=1)


def window(now: datetime, lookback_days: int) -> tuple[datetime, datetime]:
    """The lookback window: whole UTC days, ending at the start of today."""
    end = midnight(now)
    return end - timedelta(days=lookback_days), end


def midnight(at: datetime) -> datetime:
    """The start of `at`'s day, in `at`'s time zone (UTC throughout the reaper)."""
    return datetime.combine(at.date(), time(0), tzinfo=at.tzinfo)


def judge(days: Sequence[DailyUsage], policy: IdlePolicy) -> Verdict:
    observed = [d for d in days if d.cpu_percent is not None and d.cpu_peak_percent is not None]
    evidence = _evidence(observed, policy)
    if len(observed) < policy.min_days:
        return Verdict(
            VerdictKind.INSUFFICIENT_DATA,
            evidence,
            f"{len(observed)} of {policy.min_days} required days of CPU data",
        )
    if evidence.busy_days:
        by_peak = f", {evidence.peak_only_busy_days} by peak CPU alone" if evidence.peak_only_busy_days else ""
        return Verdict(
            VerdictKind.BUSY,
            evidence,
            f"busy on {evidence.busy_days} of {len(observed)} days{by_peak}",
        )
    return Verdict(
        VerdictKind.IDLE,
        _why(evidence, observed),
        f"idle on all {len(observed)} observed days",
    )


def _busy_by_average(day: DailyUsage, policy: IdlePolicy) -> bool:
    assert day.cpu_percent is not None
    return day.cpu_percent > policy.cpu_percent or day.network_mb > policy.network_mb


def _busy_by_peak(day: DailyUsage, policy: IdlePolicy) -> bool:
    assert day.cpu_peak_percent is not None
    return day.cpu_peak_percent > policy.cpu_peak_percent


def _evidence(observed: Sequence[DailyUsage], policy: IdlePolicy) -> Evidence:
    if not observed:
        return Evidence(0, None, None, None, None, 0)
    cpus = [d.cpu_percent for d in observed if d.cpu_percent is not None]
    networks = [d.network_mb for d in observed]
    # The highest peak, and the latest day it was reached (an every-night job: yesterday).
    peak_day = max(observed, key=lambda d: (d.cpu_peak_percent or 0.0, d.day))
    return Evidence(
        days_observed=len(observed),
        peak_cpu_percent=peak_day.cpu_peak_percent,
        average_cpu_percent=sum(cpus) / len(cpus),
        network_mb_per_day=sum(networks) / len(networks),
        peak_network_mb=max(networks),
        busy_days=sum(1 for d in observed if _busy_by_average(d, policy) or _busy_by_peak(d, policy)),
        peak_cpu_day=peak_day.day,
        peak_only_busy_days=sum(1 for d in observed if _busy_by_peak(d, policy) and not _busy_by_average(d, policy)),
    )


def _why(evidence: Evidence, observed: Sequence[DailyUsage]) -> Evidence:
    """An idle verdict's evidence with what its report row shows: each day's average CPU and the
    peak day's traffic. Only idle verdicts carry them: a 10 000-instance scan keeps every verdict,
    and its peak memory is a target (README, Performance)."""
    peak_day = max(observed, key=lambda d: (d.cpu_peak_percent or 0.0, d.day))
    return replace(evidence, daily_cpu=tuple(d.cpu_percent for d in observed if d.cpu_percent is not None),
                   peak_day_network_mb=peak_day.network_mb)


def busy_since(days: Sequence[DailyUsage], policy: IdlePolicy, *, until: datetime) -> str | None:
    """What shows work in `days` (read up to `until`), as "CPU 81 % on 3 Dec"; None when nothing does.

    Each day is held to the thresholds `judge` uses; the day `until` falls in is partial,
    and its traffic is held to its share of the day's allowance (at least an hour's). Of
    several busy days the latest is named, and of its measures the first over its
    threshold, in the order average CPU, peak CPU, network.
    """
    found: str | None = None
    for day in days:
        allowance = policy.network_mb * _share_of_day(day.day, until)
        network = None if day.network_in_bytes is None and day.network_out_bytes is None else day.network_mb
        if day.cpu_percent is not None and day.cpu_percent > policy.cpu_percent:
            what = f"CPU {_percent(day.cpu_percent)}"
        elif day.cpu_peak_percent is not None and day.cpu_peak_percent > policy.cpu_peak_percent:
            what = f"peak CPU {_percent(day.cpu_peak_percent)}"
        elif network is not None and network > allowance:
            what = f"network {network:.1f} MB"
        else:
            continue
        found = f"{what} on {day.day.day} {day.day:%b}"
    return found


def _share_of_day(day: date, until: datetime) -> float:
    """1 for a whole day; for the day `until` falls in, the part of it up to `until` (at least an hour)."""
    if day != until.date():
        return 1.0
    elapsed = max(until - midnight(until), SHORTEST_PARTIAL_DAY)
    return min(elapsed / DAY, 1.0)


def _percent(value: float) -> str:
    return f"{value:.0f} %" if value >= 10 else f"{value:.1f} %"
