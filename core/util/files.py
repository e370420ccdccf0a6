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


#: How much of one line :func:`undecodable_at` reads at a time (a file without newlines is read in pieces).
_PIECE = 1 << 20


def undecodable_at(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """Where ``path`` first stops being ``encoding`` text: (line, column, the byte), 1-based; None if
    it decodes. For messages: a decoder reports an offset into whatever chunk it was given, and
    people look for lines and columns. Reads line by line, in bounded pieces."""
    import codecs

    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        handle = open(path, "rb")
    except (LookupError, OSError):
        return None
    line, column = 1, 1
    with handle:
        while True:
            piece = handle.readline(_PIECE)
            if not piece:
                return None
            try:
                text = decoder.decode(piece)
            except UnicodeDecodeError as exc:
                before = piece[:max(exc.start, 0)].decode(encoding, "replace")
                return line, column + len(before), piece[exc.start] if exc.start < len(piece) else 0
            if piece.endswith(b"\n"):
                line, column = line + 1, 1
            else:
                column += len(text)


def where_undecodable(path: Path, shown: str, encoding: str, near: int) -> str:
    """``FILE:LINE:COL: byte 0x.. is not <encoding> text``, for a file a decoder failed on (its
    offset is into a buffer, so the file is read again); ``near`` is the line a reader had reached."""
    found = undecodable_at(path, encoding)
    if found is None:
        return f"{shown}: near line {near}: the text is not {encoding}"
    line, column, byte = found
    return f"{shown}:{line}:{column}: byte 0x{byte:02x} is not {encoding} text"
