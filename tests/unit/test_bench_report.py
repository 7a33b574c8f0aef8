"""`make bench` writes only where asked, and its targets table gives every "no" its reason."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import _parser, render
from bench.report import targets

EXAMPLE = Path(__file__).resolve().parents[2] / "bench" / "results" / "2026-11-29.json"


def test_a_run_saves_nothing_unless_given_a_directory() -> None:
    assert _parser().parse_args([]).out is None
    assert _parser().parse_args(["--out", "/tmp/bench"]).out == "/tmp/bench"


def test_every_missed_target_of_the_example_run_says_why() -> None:
    doc = json.loads(EXAMPLE.read_text())

    missed = {name: why for name, _, met, why in targets(doc["scan"], doc["ack"]) if met is False}

    assert set(missed) == {"calls ≤ 1.05 × bound at N=1,000", "calls ≤ 1.05 × bound at N=3,000",
                           "calls ≤ 1.05 × bound at N=10,000", "≥ 100× fewer calls than the baseline at 3 000",
                           "cold ack ≤ 1.5 × import floor"}
    assert "195 DescribeInstanceAttribute" in missed["calls ≤ 1.05 × bound at N=3,000"]
    assert missed["≥ 100× fewer calls than the baseline at 3 000"] == (
        "both scans make the same 198 look-ups; without them 409×")
    assert "self-invokes" in missed["cold ack ≤ 1.5 × import floor"]


def test_the_rendered_targets_table_carries_the_reasons() -> None:
    table = render(json.loads(EXAMPLE.read_text())).split("## Targets", 1)[1]

    rows = [line for line in table.splitlines() if line.startswith("| ") and "**no**" in line]
    assert len(rows) == 5 and all("**no**: " in row for row in rows)


def _with_prices(cold: int, warm: int) -> list[dict]:
    row = json.loads(EXAMPLE.read_text())["scan"][0]
    row["prices"] = {"keys": 12, "cold_calls": cold, "warm_calls": warm, "wall_without_s": 2.0, "wall_cold_s": 2.4,
                     "wall_warm_s": 2.1, "scan_without_s": 1.8, "scan_cold_s": 2.2}
    return [row]


def test_price_list_calls_are_held_to_the_distinct_prices_cold_and_to_none_warm() -> None:
    def met(rows: list[dict]) -> bool | None:
        [(_, _, ok, _)] = [t for t in targets(rows, None) if t[0].startswith("Price List calls")]
        return ok

    assert met(_with_prices(12, 0)) is True
    assert met(_with_prices(13, 0)) is False  # a price asked twice in one scan
    assert met(_with_prices(12, 1)) is False  # the cache was not read


def _steady(warm_calls: dict[str, int]) -> dict:
    bound_calls = {"ec2:DescribeInstances": 3, "monitoring:GetMetricData": 9}
    calls = {**bound_calls, "dynamodb:Query": 2, "dynamodb:BatchGetItem": 1, **warm_calls}
    scan = {"wall_s": 9.0, "scan_s": 7.0, "calls": sum(calls.values()), "calls_by_op": calls,
            "lookups": {"not_yet_checked": 0}, "idle": ["i-1"], "skipped": []}
    total = sum(calls.values())
    return {"n": 1000, "idle_share": 0.33, "bound": 12, "constant": 3, "idle": 327, "candidates": 255,
            "cold": [scan], "warm": scan, "warm_over_bound": total / 15, "warm_over_describe_metrics": total / 12,
            "cold_extra": 244, "same_report": True, "matches_fleet": True}


def test_a_warm_scan_at_the_bound_meets_its_target_and_one_that_looked_up_says_what_it_asked() -> None:
    from bench import warm

    [(_, measured, met, _)] = warm.targets([_steady({})])
    [(_, _, missed, why)] = warm.targets([_steady({"ec2:DescribeInstanceAttribute": 5})])

    assert met is True and measured == "15 / 15 = 1.00×"
    assert missed is False and "ec2:DescribeInstanceAttribute 5" in why
    assert "| 1,000 | 33% | 327 (255) | 12 + 3 = 15 | 15 | 1.00×" in warm.table([_steady({})])
