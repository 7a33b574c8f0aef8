"""Ack latency: cold start to the 200 for a signed `/reaper scan`, and warm p50/p99, against floors.

Each measurement is a fresh child process (bench.ack_worker) against the fake Slack Web API
(testkit.slack) on 127.0.0.1 and the benchmark's emulator (20 ms per AWS call, Lambda Invoke answered
202 — Bolt's lazy-listener self-invocation is on the ack path). Cold runs alternate with
floor runs so both see the same machine load; the figure is the median.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from demo.emulator import FAKE_CREDENTIALS
from testkit.slack import FakeSlack
from testkit.slack_requests import CHANNEL, SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent


def _env(aws_url: str, slack_api_url: str) -> dict[str, str]:
    return {
        **os.environ, "PYTHONPATH": str(ROOT),
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": aws_url, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "REAPER_REGIONS": "us-east-1,eu-west-1,ap-southeast-2", "REAPER_TABLE": "reaper-bench",
        "REAPER_BUCKET": "reaper-bench-audit",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": slack_api_url, "REAPER_CHANNEL": CHANNEL,
        "AWS_LAMBDA_FUNCTION_NAME": "instance-reaper", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "InstanceReaper",
    }


def _run(mode: str, env: dict[str, str], n: int = 500) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    env = {**env, "BENCH_SPAWNED_AT": repr(time.time())}
    done = subprocess.run([sys.executable, "-m", "bench.ack_worker", mode, str(n)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"ack worker {mode} failed: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(aws_url: str, cold_runs: int = 7, warm_n: int = 500, say: Any = print) -> dict[str, Any]:
    slack = FakeSlack().start()
    try:
        env = _env(aws_url, slack.api_url)
        cold, floor, minimal = [], [], []
        for _ in range(cold_runs):
            cold.append(_run("cold", env)[0])
            floor.append(_run("floor", env)[0])
            minimal.append(_run("cold-minimal", env)[0])
        say(f"ack: cold {statistics.median(cold) * 1000:.0f} ms vs floor {statistics.median(floor) * 1000:.0f} ms, "
            f"minimal Bolt app with a lazy listener {statistics.median(minimal) * 1000:.0f} ms")
        split: dict[str, dict[str, float]] = {}
        for mode in ("split", "split-minimal"):
            runs = [_run(mode, env, 200)[1] for _ in range(cold_runs)]
            split[mode] = {f"{key}_ms": statistics.median(r[f"{key}_s"] for r in runs) * 1000
                           for key in ("init", "first", "warm_p99")}
            split[mode]["first_over_warm_p99"] = split[mode]["first_ms"] / split[mode]["warm_p99_ms"]
            say(f"ack: {mode} init {split[mode]['init_ms']:.0f} ms, first request {split[mode]['first_ms']:.1f} ms, "
                f"warm p99 {split[mode]['warm_p99_ms']:.1f} ms")
        warm: dict[str, dict[str, float]] = {}
        for mode in ("warm", "minimal", "minimal-plain"):
            times = _run(mode, env, warm_n)[1]["times_s"]
            warm[mode] = {"p50_ms": _pct(times, 0.5) * 1000, "p99_ms": _pct(times, 0.99) * 1000,
                          "n": len(times)}
            say(f"ack: {mode} p50 {warm[mode]['p50_ms']:.1f} ms, p99 {warm[mode]['p99_ms']:.1f} ms")
    finally:
        slack.stop()
    return {
        "cold_ms": statistics.median(cold) * 1000, "floor_ms": statistics.median(floor) * 1000,
        "cold_runs_ms": [c * 1000 for c in cold], "floor_runs_ms": [f * 1000 for f in floor],
        "cold_over_floor": statistics.median(cold) / statistics.median(floor),
        "cold_minimal_ms": statistics.median(minimal) * 1000, "cold_minimal_runs_ms": [m * 1000 for m in minimal],
        "cold_minimal_over_floor": statistics.median(minimal) / statistics.median(floor),
        "warm": warm,
        "split": split,
        "warm_p99_over_minimal": warm["warm"]["p99_ms"] / warm["minimal"]["p99_ms"],
        "warm_p99_over_minimal_plain": warm["warm"]["p99_ms"] / warm["minimal-plain"]["p99_ms"],
    }
