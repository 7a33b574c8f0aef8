"""FakeSocketMode: a Socket Mode websocket server on 127.0.0.1 that sends envelopes and records acks.

Every wait here is on the event itself (the server listening, the app connecting, an ack
arriving); the timeouts only turn a hang into a failure that says what never happened.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._acked = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._connections: list[ServerConnection] = []
        self._ready = threading.Event()
        self._port = 0
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="fake-socket-mode", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/?ticket=fake"

    def start(self, timeout: float = 60.0) -> FakeSocketMode:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"FakeSocketMode: the websocket server was not listening within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(60)

    def send(self, envelope: dict[str, Any], timeout: float = 60.0) -> None:
        if not self.connected.wait(timeout):
            raise AssertionError(f"FakeSocketMode: the app did not connect within {timeout:.0f} s")
        connection = self._connections[-1]
        asyncio.run_coroutine_threadsafe(connection.send(json.dumps(envelope)), self._loop).result(timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 120.0) -> dict[str, Any]:
        def acked() -> dict[str, Any] | None:
            return next((ack for ack in self.acks if ack.get("envelope_id") == envelope_id), None)

        with self._acked:
            ack = self._acked.wait_for(acked, timeout)
        if ack is None:
            raise AssertionError(f"FakeSocketMode: no ack for envelope {envelope_id} within {timeout:.0f} s")
        return ack

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._session, "127.0.0.1", 0) as server:
            self._port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    async def _session(self, connection: ServerConnection) -> None:
        self._connections.append(connection)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "AREAPER"},
                 "debug_info": {"host": "fake", "approximate_connection_time": 3600}}
        await connection.send(json.dumps(hello))
        self.connected.set()
        async for raw in connection:
            try:
                ack = json.loads(raw)
            except ValueError:
                continue
            with self._acked:
                self.acks.append(ack)
                self._acked.notify_all()
