"""A fast local HTTP sink for the send benchmark: answers every POST with 200.

Runs in its own process (so it does not share the client's GIL) on
127.0.0.1; prints its port on the first line of stdout.

With ``--count`` it also counts the invitations it received, by (survey,
contact, occasion) from the webhook body: ``GET /stats`` answers
``{"requests", "distinct", "duplicated"}`` and ``GET /reset`` starts again,
so a benchmark can show that nothing was sent twice or lost.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = "--count" in sys.argv[1:]
_seen: Counter = Counter()
_guard = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do
    # Without TCP_NODELAY, a reply written in two pieces waits ~40 ms for the
    # client's delayed ACK (Nagle): every request would measure that stall.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if COUNT:
            sent = json.loads(data)
            key = (sent["survey"], sent["contact"]["email"], sent["occasion"])
            with _guard:
                _seen[key] += 1
        body = b'{"id":"ok"}'
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with _guard:
            if self.path == "/reset":
                _seen.clear()
            total = sum(_seen.values())
            body = json.dumps({"requests": total, "distinct": len(_seen), "duplicated": total - len(_seen)}).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
