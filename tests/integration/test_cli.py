"""`python -m reaper` as a user runs it: a subprocess against the emulator over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo.fleet import Machine
from reaper import cli
from reaper.aws.ec2 import Ec2Gateway
from tests.aws import HOME, OTHER, AwsEnv
from tests.calls import fail
from tests.integration.conftest import Seed, busy, quiet

ROOT = Path(__file__).resolve().parents[2]


def reaper(aws: AwsEnv, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reaper", *args],
        cwd=ROOT,
        env={**os.environ, **aws.env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_creates_the_table_and_bucket_once(aws: AwsEnv) -> None:
    first = reaper(aws, "init")
    second = reaper(aws, "init")

    assert first.returncode == 0 and second.returncode == 0
    assert f"table {aws.table}: created" in first.stdout
    assert f"bucket {aws.bucket}: created" in first.stdout
    assert "already there" in second.stdout and "created" not in second.stdout
    assert aws.client("dynamodb").describe_table(TableName=aws.table)["Table"]["TableStatus"] == "ACTIVE"
    aws.client("s3").head_bucket(Bucket=aws.bucket)  # raises if init did not create it


def test_scan_json_lists_idle_instances_with_id_and_region(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    ids = seed([quiet("idle-a"), busy("busy-a"), quiet("idle-b", OTHER), quiet("asg", tags={
        "aws:autoscaling:groupName": "web"})])

    run = reaper(aws, "scan", "--json")

    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert {(i["instance_id"], i["region"]) for i in document["idle"]} == {
        (ids["idle-a"], HOME), (ids["idle-b"], OTHER)
    }
    assert [(s["instance_id"], s["skip"]) for s in document["skipped"]] == [(ids["asg"], "autoscaling")]
    assert document["scanned"] == 4
    assert "running instances" in run.stderr  # progress goes to stderr, never into the JSON


def test_scan_json_states_the_policy_and_each_rows_peak_and_its_day(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    peaks: list[float | None] = [3.0] * 14
    peaks[9] = 27.5  # 5 days before today: under the 30 % this scan is given
    ids = seed([Machine("dev-box", HOME, [0.5] * 14, [0.5] * 14, cpu_peak=peaks)])

    run = reaper(aws, "scan", "--json", REAPER_CPU_PEAK_PERCENT="30", REAPER_LOOKBACK_DAYS="32")

    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["policy"] == {
        "cpu_percent": 5.0, "cpu_peak_percent": 30.0, "network_mb": 5.0, "lookback_days": 32, "min_days": 3,
    }
    (row,) = document["idle"]
    assert row["instance_id"] == ids["dev-box"]
    assert row["peak_cpu_percent"] == 27.5
    assert row["peak_cpu_day"] == (datetime.now(UTC).date() - timedelta(days=5)).isoformat()


def test_scan_prints_a_readable_report(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    ids = seed([quiet("dev-box"), quiet("licence", tags={"reaper:exempt": "true"}), busy("api"),
                Machine("nightly", HOME, [4.0] * 14, [0.5] * 14, cpu_peak=[100.0] * 14)])

    run = reaper(aws, "scan", "--region", HOME)

    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "1 idle of 4 running instances" in out
    assert "Proposed for stopping (1):" in out and ids["dev-box"] in out
    assert "Idle but not offered (1):" in out and "tagged reaper:exempt" in out
    assert "Busy by their CPU peak alone (their daily averages look idle) (1):" in out
    nightly = next(line for line in out.splitlines() if ids["nightly"] in line)
    assert "peak CPU 100.0 % on" in nightly and "average 4.0 %" in nightly
    assert "Busy: 2." in out
    assert "average CPU ≤ 5 %, peak CPU ≤ 20 %, network ≤ 5 MB" in out
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert "PEAK DAY" in out and yesterday in out  # a flat 0.5 % peaks on the latest day


def test_stop_and_keep_commands_record_decisions(aws: AwsEnv, seed: Seed) -> None:
    services = aws.init()
    ids = seed([quiet("a"), quiet("b", OTHER)])

    stopped = reaper(aws, "stop", ids["a"], "--by", "alice")
    kept = reaper(aws, "keep", ids["b"], "--days", "2")

    assert stopped.returncode == 0 and f"{ids['a']}: stopped" in stopped.stdout
    assert kept.returncode == 0 and f"{ids['b']}: kept" in kept.stdout
    actors = {d.instance_id: d.actor for d in services.store.recent()}
    assert actors[ids["a"]] == "alice"
    assert str(actors[ids["b"]]).startswith("cli:")


def test_stop_refuses_a_busy_instance_and_one_outside_reaper_regions_unless_forced(aws: AwsEnv, seed: Seed) -> None:
    services = aws.init()
    ids = seed([busy("api"), quiet("far", OTHER)])

    busy_run = reaper(aws, "stop", ids["api"])
    far_run = reaper(aws, "stop", ids["far"], "--region", OTHER, REAPER_REGIONS=HOME)

    assert (busy_run.returncode, far_run.returncode) == (2, 2)
    assert busy_run.stderr.splitlines() == [
        f"reaper: error: {ids['api']} not stopped: the idle policy calls it busy (busy on 14 of 14 days). "
        "Add --force to stop it anyway."]
    assert far_run.stderr.splitlines() == [
        f"reaper: error: {ids['far']} not stopped: {OTHER} is not one of REAPER_REGIONS ({HOME}). "
        "Add --force to stop it anyway."]
    assert services.store.recent() == []

    forced = reaper(aws, "stop", ids["api"], "--force", "--by", "alice")

    assert forced.returncode == 0 and f"{ids['api']}: stopped" in forced.stdout
    (decision,) = services.store.recent()
    claim = services.audit.get(next(k for k in services.audit.keys() if k.endswith("-stop-forced.json")))
    assert (claim["actor"], claim["reason"]) == (
        "alice", "forced past: the idle policy calls it busy (busy on 14 of 14 days)")
    assert decision.instance_id == ids["api"] and str(decision.state) == "stopped"


def test_scan_before_init_is_one_clear_line(aws: AwsEnv) -> None:
    run = reaper(aws, "scan")

    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"reaper: error: DynamoDB table {aws.table} does not exist: run `python -m reaper init`"
    ]


def test_an_unreachable_endpoint_is_one_clear_line(aws: AwsEnv) -> None:
    run = reaper(aws, "scan", AWS_ENDPOINT_URL="http://127.0.0.1:9")

    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("reaper: error:") and "127.0.0.1:9" in line
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("variable", "value"), [
    ("REAPER_CPU_PERCENT", "five"), ("REAPER_REGIONS", "moon-1"), ("REAPER_LOOKBACK_DAYS", "90"),
])
def test_bad_configuration_names_the_variable(aws: AwsEnv, variable: str, value: str) -> None:
    run = reaper(aws, "scan", **{variable: value})

    assert run.returncode == 2
    assert variable in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_scan_whose_region_failed_says_so_first_and_never_counts_it(
    aws: AwsEnv, seed: Seed, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.init()
    seed([busy("api"), quiet("other", OTHER)])
    broken = aws.client("ec2", OTHER)
    fail(broken, "DescribeInstances", "UnauthorizedOperation")
    services = aws.services(ec2=lambda r: Ec2Gateway(broken if r == OTHER else aws.client("ec2", r), r))

    code = cli.main(["scan"], services=services)

    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == f"WARNING: {OTHER} was not scanned: UnauthorizedOperation: injected UnauthorizedOperation"
    assert lines[2] == f"Instance Reaper: 0 idle of 1 running instances in {HOME} (last 14 days)"


def test_status_shows_who_decided_what_when_and_where_the_audit_record_is(aws: AwsEnv, seed: Seed) -> None:
    aws.init()
    ids = seed([quiet("dev-box"), quiet("notebook")])
    assert reaper(aws, "stop", ids["dev-box"], "--by", "alice").returncode == 0
    assert reaper(aws, "keep", ids["notebook"], "--by", "bob", "--days", "3").returncode == 0

    text = reaper(aws, "status")
    document = reaper(aws, "status", "--json")

    assert text.returncode == 0 and document.returncode == 0, text.stderr + document.stderr
    rows = {d["instance_id"]: d for d in json.loads(document.stdout)["decisions"]}
    assert (rows[ids["dev-box"]]["state"], rows[ids["dev-box"]]["by"]) == ("stopped", "alice")
    assert (rows[ids["notebook"]]["state"], rows[ids["notebook"]]["by"]) == ("kept", "bob")
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]}
    for row in rows.values():
        assert row["audit_objects"] and not row["audit_pending"]
        assert {o.removeprefix(f"s3://{aws.bucket}/") for o in row["audit_objects"]} <= keys
    lines = text.stdout.splitlines()
    assert lines[0] == "Latest 2 decisions, newest first:"
    assert any(ids["notebook"] in line and "kept" in line and "bob" in line for line in lines)
    assert rows[ids["dev-box"]]["audit_objects"][-1] in text.stdout
