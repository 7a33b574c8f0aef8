"""Figures the reliability tests measure, written to build/reliability.json for RELIABILITY.md.

Each test records one row: how many cases it tried, how many had an unwanted effect, how
many decisions were lost. `python -m tests.reliability.report` turns the file into the
table in RELIABILITY.md, so the document only ever shows numbers a test run produced.
"""

from __future__ import annotations

import fcntl
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[2] / "build" / "reliability.json"


@dataclass
class Figure:
    area: str
    case: str
    tried: int
    unwanted: int
    lost: int
    note: str = ""


class Figures:
    def __init__(self) -> None:
        self.rows: list[Figure] = []
        self._lock = threading.Lock()

    def record(self, area: str, case: str, *, tried: int, unwanted: int = 0, lost: int = 0, note: str = "") -> None:
        with self._lock:
            self.rows.append(Figure(area, case, tried, unwanted, lost, note))

    def write(self, path: Path = OUTPUT) -> None:
        """Merge this session's rows into the file: its cases replaced, every other case kept.

        Under pytest-xdist each worker is a session of its own and writes when it ends; the
        lock makes the read-merge-write of one worker whole, so no worker drops another's rows.
        """
        if not self.rows:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with (path.parent / f"{path.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = json.loads(path.read_text()) if path.exists() else []
            mine = {(r.area, r.case) for r in self.rows}
            kept = [r for r in previous if (r["area"], r["case"]) not in mine]
            path.write_text(json.dumps(kept + [asdict(r) for r in self.rows], indent=2) + "\n")
