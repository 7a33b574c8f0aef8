"""reaper.ports.ReportRuns and ShardQueue in memory (issue 15: fan-out), with the real conditional semantics."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reaper.model import ReportRun
from tests.fakes.core import Failures


@dataclass
class FakeReportRuns:
    runs: dict[str, ReportRun] = field(default_factory=dict)
    stored: dict[tuple[str, str], tuple[bytes | None, str | None]] = field(default_factory=dict)
    failures: Failures = field(default_factory=Failures)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, run: ReportRun) -> bool:
        self.failures.call("open")
        with self._lock:
            if run.id in self.runs:
                return False
            self.runs[run.id] = run
            return True

    def get(self, run_id: str) -> ReportRun | None:
        self.failures.call("get")
        return self.runs.get(run_id)

    def put_shard(self, run_id: str, shard: str, findings: bytes | None, error: str | None) -> bool:
        self.failures.call("put_shard")
        with self._lock:
            if (run_id, shard) in self.stored:
                return False
            self.stored[(run_id, shard)] = (findings, error)
            return True

    def shard_done(self, run_id: str, shard: str) -> ReportRun:
        self.failures.call("shard_done")
        with self._lock:
            run = self.runs[run_id]
            self.runs[run_id] = replace(run, done=run.done | {shard})
            return self.runs[run_id]

    def shards(self, run_id: str, shards: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        return {s: self.stored[(run_id, s)] for s in shards if (run_id, s) in self.stored}

    def claim(self, run_id: str, why: str) -> bool:
        with self._lock:
            run = self.runs.get(run_id)
            if run is None or run.posted is not None:
                return False
            self.runs[run_id] = replace(run, posted=why)
            return True


@dataclass
class FakeShardQueue:
    sent: list[tuple[Mapping[str, Any], int]] = field(default_factory=list)

    def send(self, messages: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        self.sent.extend((dict(m), delay_seconds) for m in messages)
