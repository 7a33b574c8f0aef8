"""`python -m bench` (`make bench`): scan at scale, ack latency and package size, in one run.

Prints the tables, the targets last (each "no" with its reason). Writes nothing unless asked:
--out DIR saves <date>.md and .json there (bench/results/ holds the committed example runs
the README quotes). Heavy: at the default sizes it seeds 14 000 instances; use --sizes 1000
for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ack, check_index, org, package, report, scale, warm
from bench.emulator import BenchEmulator
from demo.pricelist import PriceListServer, demo_prices


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.now(UTC).date().isoformat()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000", help="instance counts (comma-separated; empty: no scan)")
    parser.add_argument("--project-runs", type=int, default=3, help="project scans per size (median)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="baseline scans per size (median)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="round trip added to every AWS call")
    parser.add_argument("--warm-sizes", default=None,
                        help="sizes of the steady-state rows, cold then warm look-up cache (default: --sizes)")
    parser.add_argument("--warm-shares", default=",".join(f"{x:g}" for x in warm.SHARES),
                        help="idle shares of the steady-state fleets (comma-separated)")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--warm-requests", type=int, default=500)
    parser.add_argument("--org", default="50x3x100", metavar="AxRxN",
                        help="organisation run: A member accounts × R regions × N instances a shard (empty: none)")
    parser.add_argument("--skip-ack", action="store_true")
    parser.add_argument("--skip-package", action="store_true")
    parser.add_argument("--out", metavar="DIR", help="save <date>.md and <date>.json in DIR (default: save nothing)")
    parser.add_argument("--render", metavar="JSON", help="only re-render the Markdown of a saved run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    started = time.perf_counter()
    machine = _machine()
    _say(f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}")

    _say(f"CloudWatch index vs moto: {check_index.check()} queries agree")
    rows: list[dict[str, Any]] = []
    ack_result: dict[str, Any] | None = None
    ack_skipped = None
    # moto has no Price List API: the demo's fake one, behind the same round trip as every AWS call.
    prices = PriceListServer(demo_prices(scale.REGIONS), delay=args.delay_ms / 1000)
    with BenchEmulator(delay=args.delay_ms / 1000) as emu, prices:
        for n in (int(x) for x in args.sizes.split(",") if x.strip()):
            result = scale.run_size(emu, n, args.project_runs, args.baseline_runs, _say, prices)
            rows.append(scale.summary(result))
            partial = Path(tempfile.gettempdir()) / "bench-partial-scan.json"  # survives a later failure
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(rows, indent=1, default=str) + "\n")
        steady: list[dict[str, Any]] = []
        warm_sizes = args.sizes if args.warm_sizes is None else args.warm_sizes
        for n in (int(x) for x in warm_sizes.split(",") if x.strip()):
            for share in (float(x) for x in args.warm_shares.split(",") if x.strip()):
                steady.append(warm.run(emu, n, share, _say))
                (Path(tempfile.gettempdir()) / "bench-partial-steady.json").write_text(
                    json.dumps(steady, indent=1, default=str) + "\n")  # survives a later failure
        org_result = None
        if args.org:
            accounts, regions, per_shard = (int(x) for x in args.org.lower().split("x"))
            org_result = org.run(emu, accounts, scale.REGIONS[:regions], per_shard, _say)
        if args.skip_ack:
            ack_skipped = "--skip-ack"
        else:
            emu.delayed(True)
            ack_result = ack.run(emu.url, args.cold_runs, args.warm_requests, _say)
            emu.delayed(False)
    pkg = None if args.skip_package else package.measure(_say)
    elapsed = time.perf_counter() - started

    settings = {k: v for k, v in vars(args).items() if k != "render"}
    doc = {"machine": machine, "args": settings, "scan": rows, "steady": steady, "org": org_result, "ack": ack_result,
           "ack_skipped": ack_skipped,
           "package": pkg, "projection_latencies_s": report.AWS_LATENCY_S, "elapsed_s": elapsed,
           "projection": {str(r["n"]): report.projection(r, len(scale.REGIONS)) for r in rows}}
    md = render(doc)
    print(md)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / machine["date"]
        stem.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
        stem.with_suffix(".md").write_text(md + "\n")
        _say(f"wrote {stem}.md and .json; the whole run took {elapsed / 60:.1f} min")
    else:
        _say(f"the whole run took {elapsed / 60:.1f} min; nothing saved (--out DIR saves the .md and .json)")
    return 0


def render(doc: dict[str, Any]) -> str:
    m, rows, a, pkg = doc["machine"], doc["scan"], doc["ack"], doc["package"]
    delay = doc["args"]["delay_ms"]
    parts = [
        f"# Benchmark {m['date']}",
        f"{m['cores']} cores ({m['cpu']}), Python {m['python']}, {m['platform']}. "
        f"`{' '.join(['python -m bench', *_argv(doc['args'])])}`, {doc['elapsed_s'] / 60:.1f} min.",
        "",
    ]
    if rows:
        parts += _scan_parts(doc, rows, delay)
    steady = doc.get("steady") or []
    if steady:
        parts += [f"## Steady state: the second daily scan of an unchanged fleet ({delay:g} ms per AWS call)",
                  "Prices off. Cold: scans on an empty look-up cache until no row is \"not yet checked\"; warm: "
                  "the next scan. The bound is per region ⌈n/1000⌉ DescribeInstances + ⌈4n/500⌉ GetMetricData, plus "
                  "the constant few every scan makes (2 DynamoDB Query: Keeps, stops; 1 BatchGetItem: the look-up "
                  "cache of every region). Candidates: idle instances no tag excludes (each costs a look-up cold).",
                  "", warm.table(steady), "", "Calls by operation:", "", *warm.by_operation(steady), ""]
    if doc.get("org"):
        parts += org.render(doc["org"], delay)
    parts += ["## Ack latency", ""]
    if a:
        w = a["warm"]
        parts += [
            "| measure | project | reference | ratio |", "|---|---|---|---|",
            f"| cold: fresh process → 200 (median of {len(a['cold_runs_ms'])}) | {a['cold_ms']:.0f} ms "
            f"| {a['floor_ms']:.0f} ms (import slack_bolt, boto3) | {a['cold_over_floor']:.2f}× |",
            *([f"| cold: minimal Bolt app with a lazy listener → 200 | {a['cold_minimal_ms']:.0f} ms "
               f"| {a['floor_ms']:.0f} ms | {a['cold_minimal_over_floor']:.2f}× |"] if "cold_minimal_ms" in a else []),
            f"| warm p50 ({w['warm']['n']} requests) | {w['warm']['p50_ms']:.1f} ms "
            f"| {w['minimal']['p50_ms']:.1f} ms (minimal Bolt, ack + lazy) "
            f"| {w['warm']['p50_ms'] / w['minimal']['p50_ms']:.2f}× |",
            f"| warm p99 | {w['warm']['p99_ms']:.1f} ms | {w['minimal']['p99_ms']:.1f} ms "
            f"| {a['warm_p99_over_minimal']:.2f}× |",
            f"| warm p99 vs a Bolt app without lazy listener | {w['warm']['p99_ms']:.1f} ms "
            f"| {w['minimal-plain']['p99_ms']:.2f} ms | {a['warm_p99_over_minimal_plain']:.0f}× |",
            "",
        ]
        if "split" in a:
            parts += ["One process in three parts (medians of the runs): process start → end of init → first 200, "
                      "then 200 warm requests.", "",
                      "| | process start → end of init | end of init → first 200 | warm p99 | first ÷ warm p99 |",
                      "|---|---|---|---|---|"]
            for mode, label in (("split", "project"), ("split-minimal", "minimal Bolt app, one lazy listener")):
                x = a["split"][mode]
                parts.append(f"| {label} | {x['init_ms']:.0f} ms | {x['first_ms']:.1f} ms | {x['warm_p99_ms']:.1f} ms "
                             f"| {x['first_over_warm_p99']:.2f}× |")
            parts.append("")
    else:
        parts += [f"Skipped: {doc['ack_skipped']}", ""]
    if pkg:
        parts += ["## Deployment package (requirements.txt + reaper/ + bot/)", "",
                  f"{pkg['unzipped_bytes']:,} bytes unzipped, {pkg['zipped_bytes']:,} bytes zipped "
                  f"(botocore {pkg['botocore_bytes']:,} bytes unzipped). Largest: "
                  + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in pkg["largest"].items()) + ".", ""]
    parts += ["## Targets", "", report.targets_table(report.targets(rows, a) + warm.targets(steady))]
    return "\n".join(parts)


def _fmt(calls: dict[str, int]) -> str:
    return ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in calls.items()) or "–"


def _argv(args: dict[str, Any]) -> list[str]:
    """The options of a run that differ from the defaults, as they would be typed."""
    defaults = vars(_parser().parse_args([]))
    out = []
    for key, value in args.items():
        if key in defaults and key not in ("out", "render") and value != defaults[key]:
            flag = "--" + key.replace("_", "-")
            out.append(flag if value is True else f"{flag} {value}")
    return out


def _scan_parts(doc: dict[str, Any], rows: list[dict[str, Any]], delay: float) -> list[str]:
    parts = [
        f"## Scan: {len(scale.REGIONS)} regions, 14 days of daily metrics, {delay:g} ms per AWS call",
        f"Project: median of {rows[0]['project_runs']} runs; baseline: "
        f"{rows[0].get('baseline_runs', 0)} run(s). Wall time is the child process from start to exit; "
        "in brackets the scan's own started → finished. Calls are counted at the emulator.",
        "",
        report.scale_table(rows),
        "",
        *(["Prices (the demo's fake Price List, same round trip; a cold cache is the first priced scan, "
           "the runs above are warm):", "", report.prices_table(rows), ""] if "prices" in rows[0] else []),
        "Calls by operation (project | baseline):",
        "",
    ]
    for r in rows:
        parts.append(f"- N={r['n']:,}: {_fmt(r['project_calls_by_op'])} | {_fmt(r.get('baseline_calls_by_op', {}))}")
    if "project_emulator_cpu_s" in rows[0]:
        parts += ["", "CPU the emulator spent serving each scan (it shares the 2 cores with the scan):", ""]
        for r in rows:
            parts.append(f"- N={r['n']:,}: project {r['project_emulator_cpu_s']:.1f} s, "
                         f"baseline {r.get('baseline_emulator_cpu_s', float('nan')):.1f} s")
    parts += ["", "## Projection to AWS from the call counts", "",
              "Per-call latencies assumed: " + ", ".join(f"{k} {v * 1000:g} ms"
                                                         for k, v in doc["projection_latencies_s"].items())
              + "; EC2 non-mutating throttle 100 burst + 20/s per region.", "",
              report.projection_table(rows, len(scale.REGIONS)), ""]
    return parts


if __name__ == "__main__":
    sys.exit(main())
