"""'Did you mean' suggestions for names a user typed."""

from __future__ import annotations

from typing import Iterable


#: Longer values are shown cut (:func:`quoted`); a name worth suggesting for is far shorter.
SHOWN = 80


def quoted(value: object, limit: int = SHOWN) -> str:
    """``repr(value)``, cut to about ``limit`` characters with its length said: a message about a
    bad value in a hostile file must not echo 100 kB of it, per row."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or '' when none is close."""
    word = str(word)
    if len(word) > 4 * SHOWN:  # nothing that long is a typo of a name; difflib's time grows with it
        return ""
    import difflib  # only a bad value needs it; quoted() is imported where start-up time counts

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    names = sorted(set(choices))
    return ", ".join(names) if names else "(none)"
