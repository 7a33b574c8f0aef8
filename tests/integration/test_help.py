"""--help and --version answer at once, start nothing, and name the variables a new user needs."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# No AWS, Slack or reaper settings at all: help must not need them (nor start anything).
BARE = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REAPER_", "SLACK_"))}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=BARE, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("module", ["reaper", "bot"])
def test_help_names_the_aws_variables_and_starts_nothing(module: str) -> None:
    run = _run(module, "--help")

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: python -m {module}")
    assert "AWS_REGION" in run.stdout and "AWS_ENDPOINT_URL" in run.stdout
    assert run.stderr == ""


def test_version_is_the_projects() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    run = _run("reaper", "--version")

    assert (run.returncode, run.stdout) == (0, f"python -m reaper {version}\n")
