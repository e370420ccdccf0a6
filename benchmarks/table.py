"""The benchmarks' printed table: the first column left-aligned, the figures right-aligned, the last
(the target or a note) as it is."""

from __future__ import annotations

from typing import Sequence


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> None:
    """Print ``rows`` (all of one length), under ``header`` when given; nothing when there are none."""
    if not rows:
        return
    lines = [tuple(header)] if header else []
    lines += [tuple(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    for line in lines:
        cells = [f"{line[0]:<{widths[0]}}"] + [f"{cell:>{w}}" for cell, w in zip(line[1:-1], widths[1:])]
        print("  ".join(cells + [line[-1]]).rstrip())
