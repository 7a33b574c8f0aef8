"""Scan at scale: the project's scan, the per-instance baseline and the lower bound, in one run."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from bench import fleet
from bench.emulator import BenchEmulator, Key
from demo.emulator import FAKE_CLIENT_CREDENTIALS, FAKE_CREDENTIALS
from demo.pricelist import PriceListServer

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
BOUND_OPS = {("ec2", "DescribeInstances"), ("monitoring", "GetMetricData")}


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    calls: dict[str, int]  # "service:Operation" → count
    idle: list[str]
    skipped: list[str]
    scanned: int
    exit_code: int
    errors: dict[str, str] = field(default_factory=dict)
    inner_s: float | None = None  # the scan's own started_at → finished_at
    emulator_cpu_s: float = 0.0  # CPU the emulator (this process) spent while the scan ran
    pricing_calls: int = 0  # GetProducts calls the fake Price List received
    price_keys: int = 0  # distinct prices the proposed rows needed (the scan's price_lookups.keys)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class SizeResult:
    n: int
    by_region: dict[str, int]
    mix: dict[str, int]
    bound: int
    project: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)
    without_prices: Run | None = None  # REAPER_PRICES=off
    cold_prices: Run | None = None  # the first priced scan: an empty price cache
    same_idle_set: bool = False
    matches_fleet: bool = False
    seed_s: float = 0.0


def lower_bound(by_region: dict[str, int]) -> int:
    """Per region: DescribeInstances pages of 1 000, and GetMetricData calls of 500 queries."""
    from reaper.aws.cloudwatch import MAX_QUERIES, QUERIES_PER_INSTANCE

    return sum(
        math.ceil(n / 1000) + math.ceil(QUERIES_PER_INSTANCE * n / MAX_QUERIES) for n in by_region.values() if n
    )


def env(url: str, pricing_url: str | None = None, **extra: str) -> dict[str, str]:
    return {
        **os.environ, **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": url, "AWS_REGION": REGIONS[0], "AWS_DEFAULT_REGION": REGIONS[0],
        "REAPER_REGIONS": ",".join(REGIONS), "REAPER_TABLE": "reaper-bench", "REAPER_BUCKET": "reaper-bench-audit",
        "PYTHONPATH": str(ROOT),
        **({"AWS_ENDPOINT_URL_PRICING": pricing_url} if pricing_url else {"REAPER_PRICES": "off"}),
        **extra,
    }


def _by_operation(before: Counter[Key], after: Counter[Key]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (service, _region, op), count in (after - before).items():
        out[f"{service}:{op}"] += count
    return dict(sorted(out.items()))


def _run_child(argv: list[str], environment: dict[str, str]) -> tuple[bytes, bytes, int, float, float]:
    """Run to exit under bench.rusage: the command's own wall time and peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        wrapped = [sys.executable, "-m", "bench.rusage", stats.name, "--", *argv]
        done = subprocess.run(wrapped, cwd=ROOT, env=environment, capture_output=True)
        measured = json.loads(Path(stats.name).read_text())
    return done.stdout, done.stderr, done.returncode, measured["wall_s"], measured["maxrss_mb"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_child(emu: BenchEmulator, argv: list[str], prices: PriceListServer | None = None, **extra: str) -> Run:
    """One scan (or baseline) in a child process; with `prices`, the fake Price List is its pricing endpoint."""
    before, cpu = emu.calls(), _cpu()
    asked = prices.count() if prices else 0
    out, err, code, wall, rss = _run_child(argv, env(emu.url, prices.url if prices else None, **extra))
    emulator_cpu = _cpu() - cpu
    if code not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {err.decode()[-2000:]}")
    doc = json.loads(out)
    inner = None
    if "started_at" in doc:
        inner = (datetime.fromisoformat(doc["finished_at"]) - datetime.fromisoformat(doc["started_at"])).total_seconds()
    return Run(
        wall_s=wall, rss_mb=rss, calls=_by_operation(before, emu.calls()),
        idle=sorted(i["instance_id"] for i in doc["idle"]),
        skipped=sorted(i["instance_id"] for i in doc["skipped"]),
        scanned=doc["scanned"], exit_code=code, errors=dict(doc.get("errors") or {}), inner_s=inner,
        emulator_cpu_s=emulator_cpu,
        pricing_calls=(prices.count() - asked) if prices else 0,
        price_keys=int((doc.get("price_lookups") or {}).get("keys", 0)),
    )


def _complete(run: Run, n: int, what: str) -> Run:
    """A scan that failed a region or missed instances would flatter every figure: refuse it."""
    if run.exit_code or run.errors or run.scanned != n:
        raise RuntimeError(f"{what} at N={n} is not a complete scan: exit {run.exit_code}, "
                           f"{run.scanned} of {n} scanned, errors {run.errors}")
    return run


PROJECT = [sys.executable, "-m", "reaper", "scan", "--json"]
BASELINE = [sys.executable, "-m", "bench.baseline"]


def run_size(emu: BenchEmulator, n: int, project_runs: int, baseline_runs: int, say: Any,
             prices: PriceListServer | None = None) -> SizeResult:
    """With `prices`, the project's scans price their rows: one scan without prices and one on an
    empty price cache come first (measured apart), so the measured runs are warm and alike."""
    emu.delayed(False)
    emu.reset()
    assert emu.network is not None
    emu.network.clear_cache()
    init = subprocess.run([sys.executable, "-m", "reaper", "init"], cwd=ROOT, env=env(emu.url),
                          capture_output=True, text=True)
    if init.returncode:
        raise RuntimeError(f"reaper init failed: {init.stderr}")

    def client(service: str, region: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=emu.url,  # type: ignore[call-overload]
                            **FAKE_CLIENT_CREDENTIALS)

    started = time.perf_counter()
    seeded = fleet.seed(client, REGIONS, n)
    for region in REGIONS:  # warm the describe cache with the pages both scans will ask for
        pages = client("ec2", region).get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}], PaginationConfig={"PageSize": 1000})
        for _ in pages:
            pass
    result = SizeResult(n, seeded.by_region, seeded.mix(), lower_bound(seeded.by_region),
                        seed_s=time.perf_counter() - started)
    say(f"N={n}: seeded {n} instances in {result.seed_s:.0f} s; mix {result.mix}")
    emu.delayed(True)
    if prices is not None:
        result.without_prices = _complete(measure_child(emu, PROJECT, REAPER_PRICES="off"), n, "the unpriced scan")
        result.cold_prices = _complete(measure_child(emu, PROJECT, prices), n, "the first priced scan")
        cold = result.cold_prices
        say(f"N={n}: scan without prices {result.without_prices.wall_s:.1f} s; on a cold price cache "
            f"{cold.wall_s:.1f} s, {cold.pricing_calls} Price List calls for {cold.price_keys} distinct prices")
    for k in range(max(project_runs, baseline_runs)):
        if k < project_runs:
            run = _complete(measure_child(emu, PROJECT, prices), n, "the project's scan")
            result.project.append(run)
            say(f"N={n}: project scan {k + 1}/{project_runs}: {run.wall_s:.1f} s, {run.total_calls} calls, "
                f"{run.rss_mb:.0f} MB")
        if k < baseline_runs:
            run = _complete(measure_child(emu, BASELINE), n, "the baseline")
            result.baseline.append(run)
            say(f"N={n}: baseline {k + 1}/{baseline_runs}: {run.wall_s:.1f} s, {run.total_calls} calls")
    emu.delayed(False)
    p = result.project[0]
    result.same_idle_set = all(
        (r.idle, r.skipped) == (p.idle, p.skipped) for r in result.project + result.baseline
    )
    result.matches_fleet = set(p.idle) == seeded.proposed and set(p.idle) | set(p.skipped) == seeded.idle
    for side, runs in (("project", result.project), ("baseline", result.baseline)):
        if any(r.calls != runs[0].calls for r in runs):
            raise RuntimeError(f"the {side}'s calls differ between runs at N={n}: {[r.calls for r in runs]}")
    return result


def summary(r: SizeResult) -> dict[str, Any]:
    """Medians over runs (peak RSS: the largest); call counts are the same every run (run_size checks)."""
    p, b = r.project, r.baseline
    calls = p[0].calls
    in_bound = sum(c for k, c in calls.items() if tuple(k.split(":")) in BOUND_OPS)
    out: dict[str, Any] = {
        "n": r.n,
        "bound": r.bound,
        "project_calls": p[0].total_calls,
        "project_calls_in_bound_ops": in_bound,
        "project_calls_by_op": calls,
        "project_wall_s": statistics.median(x.wall_s for x in p),
        "project_scan_s": statistics.median(x.inner_s or 0.0 for x in p),
        "project_rss_mb": max(x.rss_mb for x in p),
        "project_emulator_cpu_s": statistics.median(x.emulator_cpu_s for x in p),
        "project_runs": len(p),
        "same_idle_set": r.same_idle_set,
        "matches_fleet": r.matches_fleet,
        "idle_proposed": len(p[0].idle),
        "idle_skipped": len(p[0].skipped),
        "by_region": r.by_region,
        "mix": r.mix,
        "seed_s": r.seed_s,
        "project_walls_s": [x.wall_s for x in p],
        "project_rss_runs_mb": [x.rss_mb for x in p],
    }
    if r.without_prices is not None and r.cold_prices is not None:
        out["prices"] = {
            "keys": r.cold_prices.price_keys,
            "cold_calls": r.cold_prices.pricing_calls,
            "warm_calls": max(x.pricing_calls for x in p),
            "wall_without_s": r.without_prices.wall_s,
            "wall_cold_s": r.cold_prices.wall_s,
            "wall_warm_s": out["project_wall_s"],
            "scan_without_s": r.without_prices.inner_s or 0.0,
            "scan_cold_s": r.cold_prices.inner_s or 0.0,
        }
    out["calls_over_bound"] = out["project_calls"] / r.bound
    out["bound_ops_over_bound"] = in_bound / r.bound
    if b:
        out.update({
            "baseline_calls": b[0].total_calls,
            "baseline_calls_by_op": b[0].calls,
            "baseline_wall_s": statistics.median(x.wall_s for x in b),
            "baseline_rss_mb": max(x.rss_mb for x in b),
            "baseline_emulator_cpu_s": statistics.median(x.emulator_cpu_s for x in b),
            "baseline_runs": len(b),
            "baseline_walls_s": [x.wall_s for x in b],
        })
        out["baseline_over_project_calls"] = out["baseline_calls"] / out["project_calls"]
        out["baseline_over_project_wall"] = out["baseline_wall_s"] / out["project_wall_s"]
    return out
