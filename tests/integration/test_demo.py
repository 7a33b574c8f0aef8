"""`python -m demo`, the README's first command: its own emulator, its own fleet, no AWS account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_json_is_the_scan_alone_on_stdout() -> None:
    # Nothing from the test session's AWS: the demo must bring up everything it needs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REAPER_"))}

    run = subprocess.run(
        [sys.executable, "-m", "demo", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )

    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)  # set-up lines (init, keep) would break this
    assert sorted(i["name"] for i in document["idle"]) == ["dev-alice-sandbox", "staging-reports"]
    assert {s["name"]: s["skip"] for s in document["skipped"]}["analytics-notebook"] == "kept"
    assert document["scanned"] == 14 and document["errors"] == {}
    assert "table instance-reaper: created" in run.stderr
