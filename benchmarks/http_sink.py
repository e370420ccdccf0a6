"""A fast local HTTP sink for the send benchmarks: answers every POST with 200.

Runs in its own process (so it does not share the client's GIL) on
127.0.0.1; prints its port on the first line of stdout. One asyncio loop
serves every connection (HTTP/1.1 keep-alive, ``Content-Length`` bodies):
far less CPU per request than a thread per connection, so on a small shared
machine the senders, not the sink, are what a benchmark measures.

With ``--count`` it also counts the invitations it received, by (survey,
contact, occasion) from the webhook body: ``GET /stats`` answers
``{"requests", "distinct", "duplicated"}`` and ``GET /reset`` starts again,
so a benchmark can show that nothing was sent twice or lost.

With ``--latency-ms N`` every POST is answered after N milliseconds, as a
real platform's API answers after its own processing and the network's round
trip: senders are then bound by that latency (how many requests they keep in
flight), not by this machine's CPU, so several senders can be compared on a
small machine. The waits overlap (``asyncio.sleep``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

COUNT = "--count" in sys.argv[1:]
LATENCY = float(sys.argv[sys.argv.index("--latency-ms") + 1]) / 1000 if "--latency-ms" in sys.argv else 0.0
_seen: Counter = Counter()
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id":"ok"}'


def _answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def _stats(path: bytes) -> bytes:
    if path.startswith(b"/reset"):
        _seen.clear()
    total = sum(_seen.values())
    return _answer(json.dumps({"requests": total, "distinct": len(_seen), "duplicated": total - len(_seen)}).encode())


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, _, headers = head.partition(b"\r\n")
            method, _, rest = request_line.partition(b" ")
            length = 0
            for line in headers.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            data = await reader.readexactly(length) if length else b""
            if method == b"POST":
                if COUNT:
                    sent = json.loads(data)
                    _seen[(sent["survey"], sent["contact"]["email"], sent["occasion"])] += 1
                if LATENCY:
                    await asyncio.sleep(LATENCY)
                writer.write(OK)
            else:
                writer.write(_stats(rest.partition(b" ")[0]))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
