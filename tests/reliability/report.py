"""Render RELIABILITY.md from the figures the last reliability test run wrote.

    python -m pytest tests/reliability && python -m tests.reliability.report

The table is generated, never typed: build/reliability.json comes from the tests.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability.figures import OUTPUT

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "RELIABILITY.md"
ORDER = ("fuzz", "authorization", "races", "faults", "secrets")

THREAT_MODEL = """\
## Threat model

- **A Slack user** can press the buttons of a message they can see. Unless they are in
  `REAPER_APPROVERS` (users or user groups), the click is refused with an ephemeral note
  and nothing changes. Even an approver can only act on an instance the reaper itself
  offered in that very message, and only while the row is fresh: the button carries an
  opaque id, never an instance id, and right before `StopInstances` the instance is
  re-checked: its state, type and LaunchTime (the one the report judged, not restarted
  since), its tags, stop protection and Keeps, and its CPU and network since the report
  by the idle policy's thresholds. A stale row of a changed or busy instance stops nothing.
- **A leaked signing secret** lets an attacker forge requests that pass verification: they
  could then press buttons as any user id they name, within the rows currently offered.
  They cannot name an arbitrary instance, terminate anything, or reach AWS beyond the
  role's few actions. Rotate the secret in Slack and in Secrets Manager.
- **A retried Lambda** (Slack's retry, an async re-invoke, a Socket Mode redelivery)
  meets the conditional write on the decision: the second run finds it no longer pending
  and stops nothing. Lazy runs older than Slack's 300 s window fail verification and are
  dropped; what they left half-done is settled by the repair sweep.
- **An AWS outage** cannot lose a decision: DynamoDB is written before anything is
  reported, an S3 failure (or a failed DynamoDB write marking it published) leaves the
  decision marked unpublished for the sweep, and a run killed between `StopInstances` and
  the outcome write is finished from the instance's real state — never by stopping again
  an instance its owner started after the click.
"""


def render(rows: list[dict[str, object]]) -> str:
    rows = sorted(rows, key=lambda r: (ORDER.index(str(r["area"])) if r["area"] in ORDER else 99, str(r["case"])))
    lines = [
        "# Reliability",
        "",
        "Figures from the test run of "
        f"{datetime.now(UTC):%Y-%m-%d} on {platform.system()} with Python {platform.python_version()} "
        "(`make reliability` regenerates this file; the table is written by "
        "`tests/reliability/report.py` from `build/reliability.json`, which the tests produce).",
        "",
        "| area | case | tried | unwanted effects | decisions lost | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['area']} | {r['case']} | {r['tried']} | {r['unwanted']} | {r['lost']} | {r['note']} |")
    lines += ["", "*Unwanted effects* count what must never happen in that case: a request reaching a "
              "listener, an AWS call, a state change, a second `StopInstances`, or a secret in a log line. "
              "The control row is the exception: it must show a double stop, proving the race test can see one.",
              "", THREAT_MODEL]
    return "\n".join(lines)


def main() -> int:
    if not OUTPUT.exists():
        print(f"no figures at {OUTPUT}: run pytest tests/reliability first", file=sys.stderr)
        return 1
    TARGET.write_text(render(json.loads(OUTPUT.read_text())))
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
