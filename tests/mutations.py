"""Random line and byte edits of a valid file, for the property tests over hostile input (hypothesis)."""

from __future__ import annotations

from typing import Callable

from hypothesis import strategies as st

# An extra kind of edit: (draw, lines, index of a line) -> the lines after the edit.
Edit = Callable[..., list[bytes]]


def mutate(draw, text: bytes, fragments: list[bytes], extra: dict[str, Edit] | None = None,
           most: int = 4) -> bytes:
    """``text`` after 0 to ``most`` edits: lines deleted, doubled, swapped, inserted (a fragment and
    some text), edited (a fragment spliced in), cut off, raw bytes spliced in, or an ``extra`` edit."""
    lines = text.split(b"\n")
    extra = extra or {}
    kinds = ["delete", "duplicate", "swap", "insert", "edit", "edit", "truncate", "bytes", *extra]
    for _ in range(draw(st.integers(0, most))):
        if not lines:
            break
        kind = draw(st.sampled_from(kinds))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], line
        elif kind == "insert":
            lines.insert(i, draw(st.sampled_from(fragments)) + draw(st.text(max_size=10)).encode())
        elif kind == "edit":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(fragments)) + line[at + draw(st.integers(0, 8)):]
        elif kind == "truncate":
            lines = lines[:i] + [line[:draw(st.integers(0, len(line)))]]
        elif kind == "bytes":  # a file saved in another encoding, or damaged
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.binary(min_size=1, max_size=6)) + line[at:]
        else:
            lines = extra[kind](draw, lines, i)
    return b"\n".join(lines)
