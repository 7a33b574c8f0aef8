"""AwsCalls: WSGI middleware around moto's server that records every AWS operation it receives.

Operations are named by testkit.aws_operations (bare names: `UpdateItem`, `StopInstances`).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from demo.emulator import WsgiApp
from testkit.aws_operations import is_emulator_api, operation_of


class AwsCalls:
    def __init__(self) -> None:
        self.operations: list[str] = []
        self.statuses: list[tuple[str, int]] = []  # (operation, HTTP status) of each answer
        self._failing: dict[str, int] = {}
        self._when: dict[str, Callable[[bytes], bool]] = {}
        self._lock = threading.Lock()

    def fail_next(self, operation: str, times: int = 1, when: Callable[[bytes], bool] | None = None) -> None:
        """Answer the next `times` calls of a DynamoDB operation with a ValidationException (only the
        calls whose body `when` accepts, if given: the cache and the decisions share BatchWriteItem)."""
        with self._lock:
            self._failing[operation] = times
            if when is not None:
                self._when[operation] = when
            else:
                self._when.pop(operation, None)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def recorded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            operation = self._record(environ)
            name = operation.rsplit(".", 1)[-1]
            with self._lock:
                when = self._when.get(name)
            chosen = True
            if when is not None and self._failing.get(name, 0):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(raw)
                chosen = when(raw)
            with self._lock:
                left = self._failing.get(name, 0) if chosen else 0
                if left:
                    self._failing[name] = left - 1
            if left:
                body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                                   "message": "injected by the test"}).encode()
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"),
                                                   ("Content-Length", str(len(body)))])
                return [body]
            def answered(status: str, headers: Any, *rest: Any) -> Any:
                with self._lock:
                    self.statuses.append((operation, int(status.split()[0])))
                return start_response(status, headers, *rest)

            return app(environ, answered)

        return recorded

    def _record(self, environ: dict[str, Any]) -> str:
        if is_emulator_api(environ):
            return ""
        operation = operation_of(environ).name
        with self._lock:
            self.operations.append(operation)
        return operation

    def count(self, name: str) -> int:
        with self._lock:
            return sum(1 for op in self.operations if op.endswith(name))

    def succeeded(self, name: str) -> int:
        """Calls of the operation AWS carried out (a 2xx answer): a conditional write whose condition failed
        changed nothing and is not counted."""
        with self._lock:
            return sum(1 for op, status in self.statuses if op.endswith(name) and 200 <= status < 300)

    def clear(self) -> None:
        with self._lock:
            self.operations.clear()
            self.statuses.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self.operations)
