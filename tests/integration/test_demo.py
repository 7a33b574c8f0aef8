"""`python -m demo`, the README's first command: its own emulator, its own fleet, no AWS account.

One demo runs for the whole module, with --json and --serve: its stdout is the scan alone,
and what it prints for another terminal is enough to use the CLI against its fleet.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.slow  # each runs the whole demo in a subprocess: scheduled first

ROOT = Path(__file__).resolve().parents[2]
# Nothing from the test session's AWS: the demo must bring up everything it needs.
BARE = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REAPER_"))}
EXPORT = re.compile(r"^  export (\w+)=(.*)$")


@dataclass
class Served:
    process: subprocess.Popen[str]
    stdout: Path
    told: list[str]  # stderr lines up to "Serving until Ctrl-C."

    def exports(self) -> dict[str, str]:
        return {m[1]: shlex.split(m[2])[0] for line in self.told if (m := EXPORT.match(line))}

    def suggested(self, command: str) -> list[str]:
        """The arguments of a `python -m reaper <command> …` line the demo suggested."""
        line = next(t for t in self.told if t.strip().startswith(f"python -m reaper {command}"))
        return shlex.split(line.split("#")[0])[3:]


def _read_until(stream: IO[str], last: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip() == last:
            return lines
    raise AssertionError("the demo never said it was serving:\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    stdout = tmp_path_factory.mktemp("demo") / "stdout.json"
    with stdout.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "demo", "--json", "--serve"], cwd=ROOT, env=BARE,
                                   stdout=out, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        yield Served(process, stdout, _read_until(process.stderr, "Serving until Ctrl-C.", 180))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_demo_json_is_the_scan_alone_on_stdout(served: Served) -> None:
    document = json.loads(served.stdout.read_text())  # set-up lines (init, keep) would break this

    assert sorted(i["name"] for i in document["idle"]) == ["dev-alice-sandbox", "staging-reports"]
    skipped = {s["name"]: s["skip"] for s in document["skipped"]}
    assert skipped["analytics-notebook"] == "kept"
    assert skipped["build-cache-nvme"] == "local_disks" and skipped["emr-core-node"] == "emr"  # m5d; EMR's tags
    assert [b["name"] for b in document["busy_by_peak"]] == ["nightly-batch"]  # idle by its average alone
    assert document["scanned"] == 17 and document["errors"] == {}
    assert "table instance-reaper: created" in served.told


def test_demo_json_prices_every_idle_row_from_the_demo_price_list(served: Served) -> None:
    document = json.loads(served.stdout.read_text())

    costs = {i["name"]: (i["monthly_cost_usd"], i["monthly_saving_usd"]) for i in document["idle"]}
    assert all(cost is not None and saving is not None and cost > saving > 0 for cost, saving in costs.values())
    assert [i["name"] for i in document["idle"]] == ["staging-reports", "dev-alice-sandbox"]  # m5.xlarge saves more
    assert document["monthly_saving_usd_total"] == round(sum(saving for _, saving in costs.values()), 2)
    assert any("DEMO PRICES" in line for line in served.told)


def test_the_served_demo_answers_the_commands_it_suggests(served: Served) -> None:
    env = {**BARE, **served.exports()}

    def reaper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reaper", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    stopped = reaper(*served.suggested("stop"))
    status = reaper("status", "--json")

    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    decided = {(d["name"], d["state"], d["by"]) for d in json.loads(status.stdout)["decisions"]}
    assert decided == {("dev-alice-sandbox", "stopped", "you"), ("analytics-notebook", "kept", "erin")}
    saved = json.loads(reaper("savings", "--json").stdout)
    assert (saved["stops"], saved["stops_without_price"]) == (1, 0)  # priced from the demo Price List


def test_ctrl_c_stops_the_served_demo_cleanly(served: Served) -> None:
    served.process.send_signal(signal.SIGINT)

    code = served.process.wait(20)

    assert served.process.stderr is not None
    rest = served.process.stderr.read()
    assert code == 0 and "Traceback" not in rest
    assert "Emulator stopped" in rest


def test_help_names_serve_and_starts_nothing() -> None:
    run = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=ROOT, env=BARE, capture_output=True,
                         text=True, timeout=30)

    assert run.returncode == 0 and run.stderr == ""
    assert "--serve" in run.stdout and "AWS_ENDPOINT_URL" in run.stdout and "AWS_REGION" in run.stdout


def test_a_plain_demo_ends_with_the_next_steps() -> None:
    run = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, env=BARE, capture_output=True, text=True,
                         timeout=180)

    assert run.returncode == 0, run.stderr
    assert "Nothing idle" not in run.stdout and "Proposed for stopping (2):" in run.stdout
    assert "2 idle instances cost ~$" in run.stdout and "stopping them saves ~$" in run.stdout
    assert "The prices above are DEMO PRICES" in run.stderr
    tail = run.stderr[run.stderr.index("Demo finished in"):]
    assert "Next steps:" in tail and "python -m demo --serve" in tail
