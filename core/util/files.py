"""Writing files so that readers never see half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(dest: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``dest`` through a temporary file and a rename.

    A crash leaves either the old file or the new one, never a torn one; the
    temporary file is removed on failure.
    """
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_span_note(first_line: int, last_line: int) -> str:
    """For a bad CSV record that spans lines: usually a quote that is never closed."""
    if last_line <= first_line:
        return ""
    return (f" (this record runs from line {first_line} to line {last_line}: look for a quote (\") that is "
            "opened but not closed)")
