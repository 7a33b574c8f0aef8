"""moto's server on 127.0.0.1, in-process, with DynamoDB requests handled one at a time.

moto's threaded server runs each request on its own thread and does not make a
conditional write atomic: two concurrent UpdateItem calls with the same condition can both
succeed (about 0.5 % of contended pairs here). Real DynamoDB serialises writes to an item,
so the emulator serialises DynamoDB requests — only those: EC2, CloudWatch and S3 stay
concurrent. Everything else is moto's own code, reached over HTTP like AWS.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialisedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, as DynamoDB orders writes to an item."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


class Emulator(ThreadedMotoServer):
    """A moto server on 127.0.0.1 and a free port; `url` is what AWS_ENDPOINT_URL gets."""

    def __init__(self, port: int = 0, *, wrap: Callable[[WsgiApp], WsgiApp] | None = None) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._wrap = wrap

    def _server_entry(self) -> None:
        app: WsgiApp = SerialisedDynamoDB(DomainDispatcherApplication(create_backend_app))
        if self._wrap is not None:
            app = self._wrap(app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).read()


# The one set of fake credentials of the demo, the tests and the benchmark: moto accepts any, and
# botocore signs nothing without some. As environment variables, and as boto3.client() arguments.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
FAKE_CLIENT_CREDENTIALS = {name.lower(): value for name, value in FAKE_CREDENTIALS.items()}


@contextmanager
def running(port: int = 0) -> Iterator[Emulator]:
    """Start an emulator and point this process's AWS clients at it ."""
    server = Emulator(port)
    server.start()
    previous = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", *FAKE_CREDENTIALS)}
    os.environ.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=server.url)
    try:
        yield server
    finally:
        server.stop()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
