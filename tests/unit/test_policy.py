"""The idle policy at its boundaries: three verdicts, no data is never 0 %, and a peak an average hides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from demo.fleet import NIGHTLY_AVERAGE
from reaper.model import MB, DailyUsage, VerdictKind
from reaper.policy import busy_since, judge
from reaper.settings import IdlePolicy

POLICY = IdlePolicy(lookback_days=14, cpu_percent=5.0, cpu_peak_percent=20.0, network_mb=5.0, min_days=3)
START = date(2026, 11, 1)


def days(
    cpu: list[float | None],
    network_mb: float | list[float | None] = 1.0,
    peak: list[float | None] | None = None,
) -> list[DailyUsage]:
    """One DailyUsage a day from START; a day's peak is its average unless given."""
    nets = network_mb if isinstance(network_mb, list) else [network_mb] * len(cpu)
    peaks = cpu if peak is None else peak
    return [
        DailyUsage(
            START + timedelta(days=i),
            cpu_percent=c,
            cpu_peak_percent=p,
            network_in_bytes=None if n is None else n * MB / 2,
            network_out_bytes=None if n is None else n * MB / 2,
        )
        for i, (c, p, n) in enumerate(zip(cpu, peaks, nets, strict=True))
    ]


def test_quiet_instance_with_enough_days_is_idle() -> None:
    verdict = judge(days([1.0] * 14), POLICY)
    assert verdict.kind is VerdictKind.IDLE
    assert verdict.evidence.days_observed == 14


def test_cpu_exactly_at_the_threshold_is_still_idle() -> None:
    assert judge(days([5.0] * 14), POLICY).kind is VerdictKind.IDLE


def test_cpu_just_over_the_threshold_on_one_day_is_busy() -> None:
    cpu: list[float | None] = [1.0] * 14
    cpu[6] = 5.0001
    verdict = judge(days(cpu), POLICY)
    assert verdict.kind is VerdictKind.BUSY
    assert verdict.evidence.busy_days == 1
    assert verdict.evidence.peak_cpu_percent == pytest.approx(5.0001)


def test_network_exactly_at_the_threshold_is_idle_and_over_it_is_busy() -> None:
    assert judge(days([1.0] * 14, 5.0), POLICY).kind is VerdictKind.IDLE
    nets: list[float | None] = [1.0] * 14
    nets[13] = 5.01
    assert judge(days([1.0] * 14, nets), POLICY).kind is VerdictKind.BUSY


def test_network_counts_in_and_out_together() -> None:
    # 3 MB in + 3 MB out is 6 MB a day: over a 5 MB limit though each direction is under it.
    usage = [DailyUsage(START + timedelta(days=i), 1.0, 1.0, 3 * MB, 3 * MB) for i in range(5)]
    assert judge(usage, POLICY).kind is VerdictKind.BUSY


def test_no_data_at_all_is_insufficient_not_zero_percent() -> None:
    verdict = judge([], POLICY)
    assert verdict.kind is VerdictKind.INSUFFICIENT_DATA
    assert verdict.evidence.peak_cpu_percent is None
    assert verdict.evidence.days_observed == 0


def test_days_without_cpu_data_do_not_count_as_idle_days() -> None:
    verdict = judge(days([None] * 12 + [0.5, 0.5]), POLICY)
    assert verdict.kind is VerdictKind.INSUFFICIENT_DATA
    assert verdict.evidence.days_observed == 2


def test_exactly_min_days_of_data_is_enough() -> None:
    assert judge(days([None] * 11 + [0.5] * 3), POLICY).kind is VerdictKind.IDLE


def test_fewer_than_min_days_is_insufficient_even_when_one_is_busy() -> None:
    assert judge(days([90.0, 1.0]), POLICY).kind is VerdictKind.INSUFFICIENT_DATA


def test_gaps_between_quiet_days_do_not_hide_a_busy_day() -> None:
    verdict = judge(days([1.0, None, 1.0, None, 75.0, 1.0]), POLICY)
    assert verdict.kind is VerdictKind.BUSY


def test_evidence_reports_averages_and_network_per_day() -> None:
    verdict = judge(days([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), POLICY)
    ev = verdict.evidence
    assert ev.average_cpu_percent == pytest.approx(2.0)
    assert ev.peak_cpu_percent == pytest.approx(3.0)
    assert ev.network_mb_per_day == pytest.approx(2.0)
    assert ev.peak_network_mb == pytest.approx(3.0)


def test_thresholds_come_from_the_policy() -> None:
    strict = IdlePolicy(cpu_percent=0.5, network_mb=5.0, min_days=3)
    assert judge(days([1.0] * 5), strict).kind is VerdictKind.BUSY
    assert judge(days([1.0] * 5, peak=[30.0] * 5), IdlePolicy(cpu_peak_percent=40.0)).kind is VerdictKind.IDLE


# -- peaks -------------------------------------------------------------------------------------


def test_a_nightly_hour_at_full_cpu_is_busy_though_its_daily_average_is_under_the_threshold() -> None:
    verdict = judge(days([NIGHTLY_AVERAGE] * 14, peak=[100.0] * 14), POLICY)

    assert NIGHTLY_AVERAGE <= POLICY.cpu_percent
    assert verdict.kind is VerdictKind.BUSY
    assert verdict.evidence.busy_days == 14
    assert verdict.evidence.busy_by_peak_alone
    assert verdict.reason == "busy on 14 of 14 days, 14 by peak CPU alone"


def test_a_day_busy_by_its_average_is_not_counted_as_busy_by_its_peak_alone() -> None:
    cpu: list[float | None] = [NIGHTLY_AVERAGE] * 14
    cpu[0] = 40.0
    verdict = judge(days(cpu, peak=[100.0] * 14), POLICY)

    assert (verdict.evidence.busy_days, verdict.evidence.peak_only_busy_days) == (14, 13)
    assert not verdict.evidence.busy_by_peak_alone


def test_peak_exactly_at_the_threshold_is_idle_and_just_over_it_is_busy() -> None:
    assert judge(days([0.5] * 14, peak=[20.0] * 14), POLICY).kind is VerdictKind.IDLE
    peaks: list[float | None] = [20.0] * 14
    peaks[3] = 20.0001
    verdict = judge(days([0.5] * 14, peak=peaks), POLICY)
    assert verdict.kind is VerdictKind.BUSY
    assert verdict.evidence.busy_days == 1


def test_small_agent_spikes_under_the_peak_threshold_leave_a_box_idle() -> None:
    # Package updates, the SSM and CloudWatch agents, cron: seconds of one core a few times a day.
    spikes: list[float | None] = [6.0, 3.5, 12.0, 4.0, 8.5, 3.0, 17.5, 5.0, 4.5, 9.0, 3.0, 11.0, 4.0, 6.5]

    verdict = judge(days([0.4] * 14, peak=spikes), POLICY)

    assert verdict.kind is VerdictKind.IDLE
    assert verdict.evidence.peak_cpu_percent == pytest.approx(17.5)
    assert verdict.evidence.average_cpu_percent == pytest.approx(0.4)


def test_evidence_names_the_highest_peak_and_the_latest_day_it_was_reached() -> None:
    verdict = judge(days([0.5] * 6, peak=[3.0, 9.0, 4.0, 9.0, 2.0, 1.0]), POLICY)

    assert verdict.evidence.peak_cpu_percent == pytest.approx(9.0)
    assert verdict.evidence.peak_cpu_day == START + timedelta(days=3)


def test_a_day_with_an_average_but_no_peak_is_not_judged() -> None:
    # EC2 publishes both as one statistic set; half a day's data is not taken as a quiet day.
    usage = days([0.5] * 4, peak=[None, 0.5, 0.5, None])

    verdict = judge(usage, POLICY)

    assert verdict.kind is VerdictKind.INSUFFICIENT_DATA
    assert verdict.evidence.days_observed == 2


def test_no_data_has_no_peak_day() -> None:
    assert judge([], POLICY).evidence.peak_cpu_day is None


def test_a_monthly_job_is_busy_in_a_32_day_window_and_unseen_in_the_last_14_days() -> None:
    # The scan chooses the window (REAPER_LOOKBACK_DAYS); here the days it would hand over.
    cpu: list[float | None] = [0.3] * 32
    peak: list[float | None] = [2.0] * 32
    cpu[12], peak[12] = NIGHTLY_AVERAGE, 100.0  # a month-end hour, 20 days before the window's end
    usage = days(cpu, peak=peak)

    assert judge(usage, IdlePolicy(lookback_days=32)).kind is VerdictKind.BUSY
    assert judge(usage[-14:], POLICY).kind is VerdictKind.IDLE


# -- busy since the report: the click-time re-check ---------------------------------------------


def day_of(on: date, cpu: float | None = 0.5, peak: float | None = None, network_mb: float | None = 0.5) -> DailyUsage:
    return DailyUsage(on, cpu_percent=cpu, cpu_peak_percent=cpu if peak is None else peak,
                      network_in_bytes=None if network_mb is None else network_mb * MB, network_out_bytes=None)


CLICK = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)  # a quarter into 3 Nov


def test_quiet_days_since_the_report_show_no_work() -> None:
    quiet = [day_of(date(2026, 11, 2), cpu=5.0, peak=20.0, network_mb=5.0), day_of(date(2026, 11, 3), network_mb=1.25)]

    assert busy_since(quiet, POLICY, until=CLICK) is None


def test_the_latest_busy_day_is_named_with_the_first_measure_over_its_threshold() -> None:
    days_since = [day_of(date(2026, 11, 1), cpu=81.0), day_of(date(2026, 11, 2), cpu=6.5, peak=90.0),
                  day_of(CLICK.date())]

    assert busy_since(days_since, POLICY, until=CLICK) == "CPU 6.5 % on 2 Nov"


def test_a_partial_day_holds_its_traffic_to_its_share_of_the_days_allowance() -> None:
    assert busy_since([day_of(CLICK.date(), network_mb=1.3)], POLICY, until=CLICK) == "network 1.3 MB on 3 Nov"
    assert busy_since([day_of(date(2026, 11, 2), network_mb=1.3)], POLICY, until=CLICK) is None  # a whole day


def test_a_partial_day_is_allowed_at_least_an_hours_traffic() -> None:
    just_after_midnight = datetime(2026, 11, 3, 0, 5, tzinfo=UTC)

    assert busy_since([day_of(CLICK.date(), network_mb=0.2)], POLICY, until=just_after_midnight) is None
    assert busy_since([day_of(CLICK.date(), network_mb=0.25)], POLICY, until=just_after_midnight) is not None


def test_traffic_without_cpu_data_is_still_work_and_missing_data_is_none() -> None:
    assert busy_since([day_of(CLICK.date(), cpu=None, network_mb=40.0)], POLICY, until=CLICK) == (
        "network 40.0 MB on 3 Nov")
    assert busy_since([day_of(CLICK.date(), cpu=None, network_mb=None)], POLICY, until=CLICK) is None
    assert busy_since([], POLICY, until=CLICK) is None
