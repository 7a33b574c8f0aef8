"""The organisation run (issue 15): many member accounts × regions, one scan vs a fanned-out report.

Seeds `accounts` member accounts in moto (each its own world, reached through AssumeRole), with
`per_shard` instances of bench.fleet's mix in every region, then measures, behind the same
modelled round trip as the other runs:

- one invocation: `find_idle` over every shard, in this process, with the real gateways
  (reaper.aws.accounts.MemberAccounts); calls counted per shard on the member clients
  (their botocore hooks) and in total at the emulator;
- one shard alone, as one message of a fanned-out report scans it: `find_idle(shards=[…])` on a
  fresh MemberAccounts (its own AssumeRole and clients, as a new execution environment would),
  the median of a few shards.

The fanned-out wall time is modelled, not run (the Lambda event source is not emulated): the
fan-out's own SendMessageBatch calls, then ⌈S / concurrency⌉ waves of one shard's measured wall
time (the SQS event source's MaximumConcurrency, infra/template.yaml's default), then the final
message's BatchGetItem reads of the stored shards. The projection to AWS uses bench.report's
per-call latencies; the threshold is the shard count whose projected one-invocation scan fits in
half the function's Timeout (the other half is for posting a long report and a slow day).
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import Counter
from typing import Any

import boto3

from bench import fleet, report
from bench.emulator import BenchEmulator
from demo.emulator import FAKE_CREDENTIALS as FAKE
from reaper import bootstrap
from reaper.accounts import Shard
from reaper.aws.accounts import MemberAccounts
from reaper.model import Account
from reaper.scan import find_idle
from reaper.settings import Settings

FANOUT_CONCURRENCY = 10  # infra/template.yaml: FanOutConcurrency's default
FUNCTION_TIMEOUT_S = 600  # infra/template.yaml: the function's Timeout
ASSUME_ROLE_S = 0.1  # projected sts:AssumeRole latency on AWS (a regional STS endpoint)
SHARDS_MEASURED_ALONE = 5


def _member_ids(count: int) -> list[str]:
    return [f"{300000000000 + k * 7919:012d}" for k in range(count)]


def run(emu: BenchEmulator, accounts: int, regions: tuple[str, ...], per_shard: int, say: Any) -> dict[str, Any]:
    """The organisation run, in this process: the fake credentials in the environment while it lasts."""
    saved = {k: os.environ.get(k) for k in FAKE}
    os.environ.update(FAKE)
    try:
        return _run(emu, accounts, regions, per_shard, say)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run(emu: BenchEmulator, accounts: int, regions: tuple[str, ...], per_shard: int, say: Any) -> dict[str, Any]:
    emu.delayed(False)
    emu.reset()
    assert emu.network is not None
    emu.network.clear_cache()
    members = _member_ids(accounts)
    env = {**FAKE, "AWS_ENDPOINT_URL": emu.url, "AWS_REGION": regions[0], "REAPER_REGIONS": ",".join(regions),
           "REAPER_TABLE": "reaper-bench", "REAPER_BUCKET": "reaper-bench-audit", "REAPER_PRICES": "off",
           "REAPER_ACCOUNTS": ",".join(members)}
    settings = Settings.from_env(env)
    bootstrap.ensure_storage(settings)
    session = boto3.session.Session()
    sts = session.client("sts", region_name=regions[0], endpoint_url=emu.url, aws_access_key_id="testing",
                         aws_secret_access_key="testing")
    started = time.perf_counter()
    expected = 0
    for account in members:
        answer = sts.assume_role(RoleArn=settings.member_role(account), RoleSessionName="bench-seed")["Credentials"]
        keys = {"aws_access_key_id": answer["AccessKeyId"], "aws_secret_access_key": answer["SecretAccessKey"],
                "aws_session_token": answer["SessionToken"]}
        clients: dict[tuple[str, str], Any] = {}

        def client(service: str, region: str, keys: dict[str, str] = keys,
                   clients: dict[tuple[str, str], Any] = clients) -> Any:
            if (service, region) not in clients:
                clients[(service, region)] = session.client(  # type: ignore[call-overload]
                    service, region_name=region, endpoint_url=emu.url, **keys)
            return clients[(service, region)]

        seeded = fleet.seed(client, regions, per_shard * len(regions), account=account)
        expected += len(seeded.profiles)
        for region in regions:  # warm the describe cache, as the other runs do
            for _ in client("ec2", region).get_paginator("describe_instances").paginate(
                    Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
                    PaginationConfig={"PageSize": 1000}):
                pass
    shards = accounts * len(regions)
    say(f"organisation: seeded {accounts} accounts × {len(regions)} regions × {per_shard} = {expected} instances "
        f"in {time.perf_counter() - started:.0f} s")

    emu.delayed(True)
    per_shard_calls: dict[str, Counter[str]] = {}

    lock = threading.Lock()

    def counting(client: Any, account: str) -> None:
        """Count each member client's calls under its shard (EC2 and CloudWatch clients share one)."""
        counts = per_shard_calls.setdefault(f"{account}/{client.meta.region_name}", Counter())

        def record(model: Any, **_: Any) -> None:
            with lock:
                counts[model.name] += 1

        client.meta.events.register("provide-client-params.*.*", record)

    before = emu.calls()
    t0 = time.perf_counter()
    whole = find_idle(bootstrap.build(settings, accounts=MemberAccounts(settings, on_client=counting)))
    one_invocation_s = time.perf_counter() - t0
    total_calls = sum((emu.calls() - before).values())
    by_op: Counter[str] = Counter()
    for (service, _region, op), count in (emu.calls() - before).items():
        by_op[f"{service}:{op}"] += count
    if whole.errors or len(whole.findings) != expected:
        raise RuntimeError(f"organisation scan incomplete: {len(whole.findings)} of {expected}, {whole.errors}")
    say(f"organisation: one invocation scanned {shards} shards in {one_invocation_s:.1f} s, {total_calls} calls")

    bound = math.ceil(per_shard / 1000) + math.ceil(4 * per_shard / 500)
    in_bound = [c["DescribeInstances"] + c["GetMetricData"] for c in per_shard_calls.values()]
    all_calls = [sum(c.values()) for c in per_shard_calls.values()]

    alone: list[float] = []
    alone_calls: list[dict[str, int]] = []
    for account in members[:SHARDS_MEASURED_ALONE]:
        calls_before = emu.calls()
        t0 = time.perf_counter()
        fresh = bootstrap.build(settings, accounts=MemberAccounts(settings))
        shard = find_idle(fresh, shards=[Shard(regions[0], Account(account, settings.member_role(account)))])
        alone.append(time.perf_counter() - t0)
        assert not shard.errors
        ops: Counter[str] = Counter()
        for (service, _region, op), count in (emu.calls() - calls_before).items():
            ops[f"{service}:{op}"] += count
        alone_calls.append(dict(ops))
    emu.delayed(False)
    shard_s = statistics.median(alone)
    waves = math.ceil(shards / FANOUT_CONCURRENCY)
    rtt = emu._delay
    fanned_s = math.ceil(shards / 10) * rtt + waves * shard_s + math.ceil(shards / 100) * rtt

    # Projection to AWS (bench.report's latencies): one shard, and S shards in one invocation.
    one_shard_calls = alone_calls[len(alone_calls) // 2]
    shard_projected = report._project_s(one_shard_calls, 1) + ASSUME_ROLE_S
    whole_projected = report._project_s(dict(by_op), shards) + accounts * ASSUME_ROLE_S
    per_shard_projected = whole_projected / shards
    threshold = math.floor((FUNCTION_TIMEOUT_S / 2) / per_shard_projected)
    return {
        "accounts": accounts, "regions": len(regions), "shards": shards, "per_shard": per_shard,
        "instances": expected, "bound_per_shard": bound,
        "bound_ops_per_shard": {"min": min(in_bound), "max": max(in_bound)},
        "calls_per_shard": {"min": min(all_calls), "median": statistics.median(all_calls), "max": max(all_calls)},
        "total_calls": total_calls, "calls_by_op": dict(sorted(by_op.items())),
        "one_invocation_s": one_invocation_s, "shard_alone_s": alone, "shard_alone_median_s": shard_s,
        "fanned_out_s": fanned_s, "fanout_concurrency": FANOUT_CONCURRENCY,
        "projected_shard_s": shard_projected, "projected_one_invocation_s": whole_projected,
        "projected_per_shard_in_one_invocation_s": per_shard_projected,
        "projected_fanned_out_s": waves * shard_projected,
        "threshold_shards": threshold, "function_timeout_s": FUNCTION_TIMEOUT_S,
    }


def render(o: dict[str, Any], delay_ms: float) -> list[str]:
    return [
        f"## Organisation: {o['accounts']} accounts × {o['regions']} regions × {o['per_shard']} instances "
        f"({o['shards']} shards, {o['instances']:,} instances), {delay_ms:g} ms per AWS call", "",
        "| measure | value |", "|---|---|",
        f"| describe + GetMetricData calls per shard (lower bound {o['bound_per_shard']}) | "
        f"{o['bound_ops_per_shard']['min']}–{o['bound_ops_per_shard']['max']} |",
        f"| all calls per shard (with look-ups) | {o['calls_per_shard']['min']}–{o['calls_per_shard']['max']} "
        f"(median {o['calls_per_shard']['median']:g}) |",
        f"| total calls, one invocation (AssumeRole, Keeps, savings included) | {o['total_calls']:,} |",
        f"| wall time, one invocation (measured) | {o['one_invocation_s']:.1f} s |",
        f"| wall time of one shard alone, cold (median of {len(o['shard_alone_s'])}) | "
        f"{o['shard_alone_median_s']:.2f} s |",
        f"| wall time, fanned out (modelled: {o['fanout_concurrency']} at once) | {o['fanned_out_s']:.1f} s |",
        f"| projected on AWS: one shard alone / per shard in one invocation | {o['projected_shard_s']:.1f} s / "
        f"{o['projected_per_shard_in_one_invocation_s']:.2f} s |",
        f"| projected on AWS: one invocation / fanned out | {o['projected_one_invocation_s']:.0f} s / "
        f"{o['projected_fanned_out_s']:.0f} s |",
        f"| shards above which the report must fan out (half of the {o['function_timeout_s']} s Timeout) | "
        f"{o['threshold_shards']} |",
        "", "Calls by operation, one invocation: "
        + ", ".join(f"{k.split(':')[1]} {v:,}" for k, v in o["calls_by_op"].items()), "",
    ]
