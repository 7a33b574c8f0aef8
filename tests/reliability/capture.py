"""Everything the process logs: every record any logger handles, and whatever reaches stdout/stderr."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest


class LogCapture:
    """Records each LogRecord a logger handles (whatever its handlers or `propagate`), formatted in full.

    Patching `Logger.handle` sees records of non-propagating loggers too (Powertools sets some up
    that way), after the level check: exactly what production would emit at these levels.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()
        handle = logging.Logger.handle
        capture = self

        def recorded(logger: logging.Logger, record: logging.LogRecord) -> Any:
            with capture._lock:
                capture.records.append(record)
            return handle(logger, record)

        monkeypatch.setattr(logging.Logger, "handle", recorded)

    def lines(self) -> list[str]:
        """Each record as the most a formatter could print: message, arguments, extras and traceback."""
        formatter = logging.Formatter()
        with self._lock:
            records = list(self.records)
        out = []
        for record in records:
            text = [record.name, record.getMessage(), repr(record.args)]
            text += [f"{k}={v!r}" for k, v in vars(record).items() if k not in ("args", "msg", "exc_info")]
            if record.exc_info:
                text.append(formatter.formatException(record.exc_info))
            out.append(" ".join(text))
        return out

    def messages(self) -> list[str]:
        with self._lock:
            return [r.getMessage() for r in self.records]
