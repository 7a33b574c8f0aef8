"""The daily scan in steady state (issue 20): each size at idle shares of 10 % and 33 %, cold cache then warm.

For each (N, idle share) a fresh fleet is seeded (bench.fleet with the idle profiles scaled to
the share), then scans run as `python -m reaper scan --json` child processes with prices off
(this measures the look-up cache; prices have their own table):

- *cold*: scans on an empty look-up cache until no row is "not yet checked" — one scan when the
  region's look-ups fit in the time budget (REAPER_LOOKUP_SECONDS, paced at 10 a second a
  region), more when they do not, as on the first days of a large fleet;
- *warm*: the next scan of the unchanged fleet, the steady state: every call counted by
  operation, against the lower bound (describe pages + GetMetricData calls) plus the constant
  few every scan makes (CONSTANT_CALLS).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from bench import fleet, scale
from bench.emulator import BenchEmulator

SHARES = (0.10, 0.33)
# Calls a scan makes whatever N: the Keeps (a DynamoDB Query), the recorded stops whose savings it
# settles (a Query), and the look-up cache of every region (one BatchGetItem).
CONSTANT_CALLS = {"dynamodb:Query": 2, "dynamodb:BatchGetItem": 1}
LOOKUP_OPS = ("ec2:DescribeInstanceAttribute", "ec2:DescribeSpotInstanceRequests", "ec2:DescribeInstanceTypes")
MAX_COLD_SCANS = 5


def run(emu: BenchEmulator, n: int, share: float, say: Any) -> dict[str, Any]:
    emu.delayed(False)
    emu.reset()
    assert emu.network is not None
    emu.network.clear_cache()
    init = subprocess.run([sys.executable, "-m", "reaper", "init"], cwd=scale.ROOT, env=scale.env(emu.url),
                          capture_output=True, text=True)
    if init.returncode:
        raise RuntimeError(f"reaper init failed: {init.stderr}")
    def client(service: str, region: str) -> Any:
        # Launching 1 000 instances at once can take moto over a minute on a busy machine.
        return boto3.client(service, region_name=region, endpoint_url=emu.url,  # type: ignore[call-overload]
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(read_timeout=600, retries={"max_attempts": 1}))

    started = time.perf_counter()
    seeded = fleet.seed(client, scale.REGIONS, n, idle_share=share)
    for region in scale.REGIONS:  # warm the emulator's describe cache, as bench.scale does
        for _ in client("ec2", region).get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-state-name", "Values": ["running"]}], PaginationConfig={"PageSize": 1000}):
            pass
    say(f"warm N={n} idle {share:.0%}: seeded in {time.perf_counter() - started:.0f} s; mix {seeded.mix()}")
    emu.delayed(True)
    cold: list[dict[str, Any]] = []
    while True:
        run_ = _scan(emu, n)
        cold.append(run_)
        say(f"warm N={n} idle {share:.0%}: cold scan {len(cold)}: {run_['wall_s']:.1f} s, {run_['calls']:,} calls, "
            f"{run_['lookups']['not_yet_checked']} not yet checked")
        if run_["lookups"]["not_yet_checked"] == 0:
            break
        if len(cold) >= MAX_COLD_SCANS:
            raise RuntimeError(f"still {run_['lookups']['not_yet_checked']} rows not yet checked "
                               f"after {len(cold)} scans")
    warm = _scan(emu, n)
    emu.delayed(False)
    bound = scale.lower_bound(seeded.by_region)
    constant = sum(CONSTANT_CALLS.values())
    candidates = sum(1 for p in seeded.profiles.values() if p in ("idle", "protected", "spot"))
    say(f"warm N={n} idle {share:.0%}: warm scan {warm['wall_s']:.1f} s, {warm['calls']} calls "
        f"for a bound of {bound} + {constant}")
    return {
        "n": n, "idle_share": share, "bound": bound, "constant": constant,
        "idle": len(seeded.idle), "candidates": candidates,
        # What the cold scans made beyond each one's bound: the look-ups, their cache writes.
        "cold_extra": sum(c["calls"] for c in cold) - len(cold) * (bound + constant),
        "cold": cold, "warm": warm,
        "warm_over_bound": warm["calls"] / (bound + constant),
        "warm_over_describe_metrics": warm["calls"] / bound,
        "same_report": warm["idle"] == cold[-1]["idle"] and warm["skipped"] == cold[-1]["skipped"],
        "matches_fleet": set(warm["idle"]) == seeded.proposed
        and set(warm["idle"]) | set(warm["skipped"]) == seeded.idle,
    }


def _scan(emu: BenchEmulator, n: int) -> dict[str, Any]:
    before = emu.calls()
    out, err, code, wall, rss = scale._run_child(scale.PROJECT, scale.env(emu.url))
    if code not in (0, 1):
        raise RuntimeError(f"scan exited {code}: {err.decode()[-2000:]}")
    doc = json.loads(out)
    if doc["errors"] or doc["scanned"] != n:
        raise RuntimeError(f"not a complete scan at N={n}: {doc['scanned']} scanned, errors {doc['errors']}")
    calls = scale._by_operation(before, emu.calls())
    return {
        "wall_s": wall, "rss_mb": rss,
        "scan_s": (datetime.fromisoformat(doc["finished_at"])
                   - datetime.fromisoformat(doc["started_at"])).total_seconds(),
        "calls": sum(calls.values()), "calls_by_op": calls, "lookups": doc["eligibility_lookups"],
        "idle": sorted(i["instance_id"] for i in doc["idle"]),
        "skipped": sorted(i["instance_id"] for i in doc["skipped"]),
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = ("N", "idle share", "idle (candidates)", "bound: describe + metrics + constant", "warm calls",
            "warm ÷ bound", "warm look-ups: attribute / Spot / types", "warm wall (scan)",
            "cold scans: calls, not yet checked, wall", "cold: calls above the bound / candidates", "same report")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        w = r["warm"]
        looks = " / ".join(str(w["calls_by_op"].get(op, 0)) for op in LOOKUP_OPS)
        colds = "; ".join(f"{c['calls']:,}, {c['lookups']['not_yet_checked']}, {c['wall_s']:.1f} s" for c in r["cold"])
        lines.append("| " + " | ".join([
            f"{r['n']:,}", f"{r['idle_share']:.0%}", f"{r['idle']:,} ({r['candidates']:,})",
            f"{r['bound']} + {r['constant']} = {r['bound'] + r['constant']}", str(w["calls"]),
            f"{r['warm_over_bound']:.2f}× ({r['warm_over_describe_metrics']:.2f}× describe + metrics)",
            looks, f"{w['wall_s']:.1f} s ({w['scan_s']:.1f} s)", colds,
            f"{r['cold_extra']:,} / {r['candidates']:,}",
            "yes" if r["same_report"] and r["matches_fleet"] else "NO",
        ]) + " |")
    return "\n".join(lines)


def by_operation(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        warm = ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in r["warm"]["calls_by_op"].items())
        cold = ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in r["cold"][0]["calls_by_op"].items())
        out.append(f"- N={r['n']:,}, idle {r['idle_share']:.0%} ({r['idle']:,} idle, "
                   f"{r['candidates']:,} candidates): warm {warm} | first cold {cold}")
    return out


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None, str]]:
    return [(f"warm cache: all calls ≤ 1.05 × bound, N={r['n']:,}, idle {r['idle_share']:.0%}",
             f"{r['warm']['calls']} / {r['bound'] + r['constant']} = {r['warm_over_bound']:.2f}×",
             r["warm_over_bound"] <= 1.05,
             "the warm scan asked something the cache should have answered: "
             + ", ".join(f"{op} {r['warm']['calls_by_op'][op]}" for op in r["warm"]["calls_by_op"]
                         if tuple(op.split(":")) not in scale.BOUND_OPS and op not in CONSTANT_CALLS))
            for r in rows]
