"""Sockets for transport-failure tests: a port nobody listens on, a server that never answers."""

from __future__ import annotations

import socket
import threading
from typing import Any

__all__ = ["SilentServer", "unused_port"]


def unused_port() -> int:
    """A port nothing listens on (for "connection refused" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word.

    Clients connect fine and then wait: an HTTP client for its answer, an
    SMTP client for the greeting. Use it to check that timeouts are set and
    become the right errors. ``connections`` counts accepted connections.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0
        self._sock: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "SilentServer":
        self._sock = socket.socket()
        self._sock.bind((self.host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tierctl-silent-server")
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            self._open.append(conn)  # kept open, never read from or written to

    def __exit__(self, *exc: Any) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(2)
        for conn in self._open:
            conn.close()
        if self._sock is not None:
            self._sock.close()
