"""The ``csv`` customer source in two parts, for a big plan (:meth:`CsvCustomers.split`).

The file is cut at a line break near its middle. Whether that break ends a
record (it might sit inside a quoted value) is only known by reading up to it,
so the head is read here up to that line and pauses at the first record
boundary at or after it; :meth:`CsvSplit.fits` then checks that it paused
exactly there, and that the worker's part holds no address the head already
had (the second row of a person is a reported duplicate in one pass).
"""

from __future__ import annotations

import codecs
import io
from array import array
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

from tierctl.records import Contact
from tierctl.sources import Report, SourceSplit

if TYPE_CHECKING:
    from tierctl.plugins.source_csv import CsvCustomers

# Encodings in which a 0x0A byte is a line feed and nothing else, and a text decoder can start
# at any line break (UTF-16 and friends cannot be cut at a byte).
CUTTABLE = frozenset({"utf-8", "utf-8-sig", "cp1252", "iso8859-1", "iso8859-15", "ascii"})
CHUNK = 4 << 20
HEAD_SHARE = 0.47


@dataclass
class Part:
    """One part's reading: where it starts, where the head stops, and what it saw."""

    #: The head pauses at the first record boundary at or after this line.
    stop_line: int = sys.maxsize
    #: The tail's first byte (0: the head, which starts at the file's start).
    begin: int = 0
    #: Lines before ``begin`` (the tail's rows are numbered after them).
    lines_before: int = 0
    #: E-mail -> its first line, as the reader fills it.
    first_line: dict[str, int] = field(default_factory=dict)
    #: Where the head paused: the last line of its last record.
    stopped_at: int | None = None
    body: IO[str] | None = None

    def open_body(self, path: Path, encoding: str) -> IO[str]:
        raw = open(path, "rb")
        raw.seek(self.begin)
        # A byte-order mark is only at the start of the file.
        name = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
        self.body = io.TextIOWrapper(raw, encoding=name, newline="")
        return self.body


class CsvSplit(SourceSplit):
    """See :class:`tierctl.sources.SourceSplit`."""

    def __init__(self, source: "CsvCustomers", report: Report, begin: int, lines_before: int):
        from tierctl.plugins.source_csv import PAUSE

        self._source = source
        self._pause = PAUSE
        self._head = Part(stop_line=lines_before)
        self._tail = Part(begin=begin, lines_before=lines_before)
        self._reading = source._read(report, self._head)
        self._head_hashes: set[int] = set()

    def head(self) -> Iterator[Contact]:
        pause = self._pause
        for contact in self._reading:
            if contact is pause:
                break
            yield contact  # type: ignore[misc]
        # Ready for fits(), likely while the worker still reads its part.
        self._head_hashes = set(map(hash, self._head.first_line))

    def tail(self, report: Report) -> Iterator[Contact]:
        try:
            yield from self._source._read(report, self._tail)  # type: ignore[misc]
        finally:
            if self._tail.body is not None:
                self._tail.body.close()

    def tail_handoff(self) -> array:
        # Hashes, not the addresses: 8 bytes each, and no million strings to build on the way
        # back. The worker is a fork, so it hashes with this process's seed; two addresses
        # with one hash only cost reading the second part here.
        return array("q", map(hash, self._tail.first_line))

    def fits(self, handoff: array) -> bool:
        if self._head.stopped_at != self._tail.lines_before:
            return False  # a quoted value spans the cut: the tail's reading started mid-record
        return self._head_hashes.isdisjoint(handoff)

    def rest(self) -> Iterator[Contact]:
        return self._reading  # type: ignore[return-value]  (past its pause)


def split_csv(source: "CsvCustomers", report: Report) -> CsvSplit | None:
    """The source in two parts, or None when the file is small, or cannot be cut at a byte."""
    try:
        size = source.path.stat().st_size
        codec = codecs.lookup(source.options.encoding).name
    except (OSError, LookupError):
        return None  # one pass reports it
    if size < max(source.min_split_bytes, 1) or codec not in CUTTABLE:
        return None
    # A little less than half here: this process also has the work after both parts.
    cut = _line_break_after(source.path, int(size * HEAD_SHARE), size)
    return None if cut is None else CsvSplit(source, report, *cut)


def _line_break_after(path: Path, middle: int, size: int) -> tuple[int, int] | None:
    """``(byte after the first line feed at or after middle, lines before it)``, counted as the
    csv reader counts lines (a lone carriage return ends a line too: then None, not worth it)."""
    lines = 0
    offset = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                return None
            end = len(chunk)
            if offset + end > middle:
                at = chunk.find(b"\n", max(0, middle - offset))
                if at != -1:
                    end = at + 1
            piece = chunk[:end]
            # Most files have no carriage return at all: one quick search, not two counts.
            if b"\r" in piece and piece.count(b"\r") != piece.count(b"\r\n"):
                return None
            lines += piece.count(b"\n")
            offset += end
            if end < len(chunk) or (offset > middle and piece.endswith(b"\n")):
                return (offset, lines) if offset < size else None
