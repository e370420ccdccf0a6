"""The page-fetch loop: ask a provider for responses again while it brings new ones.

:func:`fetch_pages` is the one loop that calls ``fetch_responses``:
``tierctl survey collect`` (:mod:`tierctl.responses.collect`) and the test
kit (:meth:`tierctl.testing.Engine.fetch_all`) both run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from tierctl.records import RawResponse

#: A provider that keeps returning new responses is asked at most this often per run.
MAX_PAGES = 10_000


@dataclass
class Page:
    """One ``fetch_responses`` call: what it returned and which of it is new in this run."""

    cursor_before: str | None
    cursor: str | None
    items: list[RawResponse] = field(default_factory=list)
    fresh: list[RawResponse] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        """Whether the provider returned a new cursor (store the page first, then save it)."""
        return self.cursor is not None and self.cursor != self.cursor_before


def fetch_pages(provider: Any, survey_id: str, cursor: str | None, max_pages: int = MAX_PAGES) -> Iterator[Page]:
    """Call ``provider.fetch_responses`` from ``cursor``, again with each new cursor.

    Yields each call's :class:`Page`; the caller stores its responses (and
    saves ``page.cursor`` after they are committed) before the next call is
    made. Stops when a call brings nothing new in this run, returns no cursor
    or the same cursor, or after ``max_pages`` calls. Responses met earlier
    in the run (overlapping windows) are in ``items`` but not in ``fresh``.
    """
    seen: set[str] = set()
    for _ in range(max_pages):
        items, new_cursor = provider.fetch_responses(survey_id, cursor)
        page = Page(cursor, new_cursor, list(items))
        for raw in page.items:
            if raw.response_id not in seen:
                seen.add(raw.response_id)
                page.fresh.append(raw)
        yield page
        if not page.fresh or not page.moved:
            return
        cursor = new_cursor
