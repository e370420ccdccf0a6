"""The guard's own answers, on a bare ASGI app (no server)."""

from __future__ import annotations

import asyncio
import logging

from tierctl.web.guard import Guard, RateLimits


def test_a_client_that_hangs_up_mid_body_is_not_an_error_with_a_traceback(caplog):
    """A POST whose client leaves before the body is in (Starlette raises ClientDisconnect): one info
    line, no ERROR and no traceback (it was logged as "error while answering" with one), and no answer."""
    from starlette.requests import Request

    async def app(scope, receive, send):
        await Request(scope, receive).body()

    async def receive():
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/hooks/twilio", "headers": [], "client": ("1.2.3.4", 5)}
    with caplog.at_level(logging.INFO, logger="tierctl"):
        asyncio.run(Guard(app, 1000, RateLimits(10, 10))(scope, receive, send))
    assert sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert any("client left during POST /hooks/twilio" in r.getMessage() for r in caplog.records)
