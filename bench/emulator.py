"""The benchmark's AWS: moto's server plus a fixed network round trip and a call counter.

Every request waits `delay` seconds before moto sees it (20 ms models a client near its
regional endpoint), and is counted by (service, region, operation) — read from the
request itself, so it counts what reached "AWS", retries included. Lambda `Invoke` is
answered here with 202 (the Slack adapter's self-invocation for lazy listeners): moto
would try to run the function in Docker.

DescribeInstances responses are cached per (region, request body) until the next EC2
call that is not a Describe*: the fleet is read-only while it is scanned, and moto's
XML serialiser spends ~3 ms of this process's CPU per instance (30 s at N = 10 000),
which AWS does not charge a client for. The cache is warmed before measuring, so both
the project and the baseline see describe pages that cost the round trip only.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from demo.emulator import Emulator, WsgiApp
from testkit.aws_operations import is_emulator_api, operation_of

_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")  # whose request: moto keeps a world per account

Key = tuple[str, str, str]  # service, region, operation


class NetworkModel:
    """WSGI middleware: a fixed delay before every request, and a count of every request."""

    def __init__(self, app: WsgiApp, delay: float) -> None:
        self._app = app
        self.delay = delay
        self._lock = threading.Lock()
        self._calls: Counter[Key] = Counter()
        self._cache: dict[tuple[str, bytes], tuple[str, list[tuple[str, str]], bytes]] = {}

    def snapshot(self) -> Counter[Key]:
        with self._lock:
            return Counter(self._calls)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if is_emulator_api(environ):
            return self._app(environ, start_response)
        key = self._key(environ)
        with self._lock:
            self._calls[key] += 1
        if self.delay:
            time.sleep(self.delay)
        if key[0] == "lambda" and key[2] == "Invoke":
            start_response("202 Accepted", [("Content-Type", "application/json"), ("Content-Length", "0")])
            return [b""]
        if key[0] == "ec2" and key[2] == "DescribeInstances":
            return self._cached(key, environ, start_response)
        if key[0] == "ec2" and not key[2].startswith("Describe"):
            with self._lock:
                self._cache.clear()
        return self._app(environ, start_response)

    def _cached(self, key: Key, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].getvalue()
        cache_key = (f"{_account(environ)}@{key[1]}", body)  # member accounts' pages differ
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit is None:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], *_exc_info: Any) -> Any:
                captured["status"], captured["headers"] = status, headers
                return lambda _data: None

            payload = b"".join(self._app(environ, capture))
            hit = (captured["status"], captured["headers"], payload)
            if hit[0].startswith("200"):
                with self._lock:
                    self._cache[cache_key] = hit
        start_response(hit[0], hit[1])
        return [hit[2]]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _key(environ: dict[str, Any]) -> Key:
        operation = operation_of(environ)
        return operation.service, operation.region, operation.name


def _account(environ: dict[str, Any]) -> str:
    """The account moto serves the request from: its access key's (assumed-role keys included)."""
    from moto.iam.models import get_account_id_from

    who = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(who.group(1)) if who else "?"


class BenchEmulator:
    """moto on 127.0.0.1 in this process, behind NetworkModel, with indexed CloudWatch reads."""

    def __init__(self, delay: float = 0.020) -> None:
        from bench import cwindex

        cwindex.install()
        self._delay = delay
        self.network: NetworkModel | None = None

        def wrap(app: WsgiApp) -> WsgiApp:
            self.network = NetworkModel(app, 0.0)
            return self.network

        self.server = Emulator(wrap=wrap)

    def __enter__(self) -> BenchEmulator:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self) -> Counter[Key]:
        assert self.network is not None
        return self.network.snapshot()

    def delayed(self, on: bool) -> None:
        """Seeding runs without the modelled round trip; measured runs with it."""
        assert self.network is not None
        self.network.delay = self._delay if on else 0.0

    def reset(self) -> None:
        self.server.reset()
