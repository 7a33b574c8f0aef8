"""FakeLambda: Lambda's Invoke API on 127.0.0.1, running the handler in this process.

Bolt's lazy listeners invoke the function again (`InvocationType=Event`) through boto3;
pointing AWS_ENDPOINT_URL_LAMBDA here runs that second invocation for real, on a thread,
as Lambda would run it after the first one returned.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.lambda_context import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


class FakeLambda:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.invocations: list[dict[str, Any]] = []
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._held: list[threading.Thread] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-lambda", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLambda:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.wait()
        self._server.shutdown()
        self._server.server_close()

    def run(self, payload: dict[str, Any], name: str) -> Any:
        context = FakeLambdaContext(function_name=name.rsplit(":", 1)[-1], invoked_function_arn=name)
        try:
            result = self.handler(payload, context)
        except BaseException as error:  # recorded, as Lambda records a failed invocation
            with self._lock:
                self.errors.append(error)
            raise
        with self._lock:
            self.results.append(result)
        return result

    def hold(self) -> None:
        """Queue asynchronous invocations instead of starting them, until the next `wait()`.

        Lambda gives no ordering between an invocation's response and the asynchronous
        invocations it started: a test that inspects what happened *before* the ack holds
        them, so that a lazy listener cannot win that race on a busy machine.
        """
        with self._lock:
            if self._held is None:
                self._held = []

    def invoke_async(self, payload: dict[str, Any], name: str) -> None:
        thread = threading.Thread(target=self._run_quietly, args=(payload, name), daemon=True)
        with self._lock:
            self.invocations.append(payload)
            self._threads.append(thread)
            if self._held is not None:
                self._held.append(thread)
                return
        thread.start()

    def _release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
        for thread in held:
            thread.start()

    def _run_quietly(self, payload: dict[str, Any], name: str) -> None:
        try:
            self.run(payload, name)
        except BaseException:
            pass  # kept in self.errors for the test to assert on

    def wait(self, timeout: float = 120.0) -> None:
        """Block until every asynchronous invocation so far has finished (including those they started).

        Starts any held ones first, then joins the invocations' threads; the timeout only turns
        a hung invocation into a failure.
        """
        self._release()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"FakeLambda: {len(alive)} asynchronous invocation(s) still running after {timeout:.0f} s"
                )
            alive[0].join(max(0.0, deadline - time.monotonic()))


def _handler(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.split("/")
            if len(parts) < 5 or parts[1] != "2015-03-31" or parts[2] != "functions" or parts[4] != "invocations":
                self.send_error(404)
                return
            from urllib.parse import unquote

            name = unquote(parts[3])
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = json.loads(raw or b"{}")
            if self.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
                fake.invoke_async(payload, name)
                self._send(202, b"")
                return
            with fake._lock:
                fake.invocations.append(payload)
            self._send(200, json.dumps(fake.run(payload, name)).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
