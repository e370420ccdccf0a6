"""Log output for cron and log shippers: plain lines or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierctl.util.redact import Redactor


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="seconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key in ("event", "invite_id", "survey", "contact", "occasion", "reason", "counts"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: str, verbose: bool = False, redactor: "Redactor | None" = None) -> None:
    """Send tierctl's log records to stderr as ``plain`` or ``json`` lines (through ``redactor``,
    which masks the config's secrets in every message and field before it is formatted)."""
    handler = logging.StreamHandler(sys.stderr)
    if redactor is not None:
        from tierctl.util.redact import RedactingFilter

        handler.addFilter(RedactingFilter(redactor))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger("tierctl")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
