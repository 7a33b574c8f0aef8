"""FakeSilentEndpoint: a loopback port that accepts every connection and never answers a byte.

What a hung proxy, a wrong port on a busy host or a stalled emulator looks like to a client:
the TCP connection succeeds, so only a read timeout can end the wait.
"""

from __future__ import annotations

import socket
import threading


class FakeSilentEndpoint:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="fake-silent-endpoint", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def connections(self) -> int:
        return len(self._held)

    def start(self) -> FakeSilentEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        for connection in self._held:
            connection.close()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)  # held open, never read from or written to
