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
"""

from __future__ import annotations

from collections.abc import Sequence

from reaper.model import DailyUsage, Evidence, Verdict, VerdictKind
from reaper.settings import IdlePolicy


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
        evidence,
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
