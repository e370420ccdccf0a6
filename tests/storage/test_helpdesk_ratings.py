"""The ledger keeps helpdesk ratings once per (source, rating id); a later import updates them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tierctl.records import HelpdeskRating
from tierctl.storage.opener import open_ledger

AT = datetime(2026, 10, 5, 10, 0, tzinfo=timezone.utc)


def test_ratings_are_kept_once_and_updated_in_place(tmp_path: Path):
    with open_ledger("sqlite:///state.db", tmp_path) as ledger:
        rows = [HelpdeskRating("1", "basic", "org-1", "bad", AT, "2026-10-05"),
                HelpdeskRating("2", "basic", "org-1", "good", AT, "2026-10-05")]
        assert ledger.add_helpdesk_ratings("zendesk", rows) == 2
        # the same ratings again, one changed to good and moved to another tier: nothing new
        again = [rows[0]._replace(score="good", tier="advanced"), rows[1]]
        assert ledger.add_helpdesk_ratings("zendesk", again) == 0
        # another helpdesk may use the same ids
        assert ledger.add_helpdesk_ratings("freshdesk", rows[:1]) == 1
        assert ledger.helpdesk_rating_counts() == [("freshdesk", "basic", "2026-10-05", "bad", 1),
                                                   ("zendesk", "advanced", "2026-10-05", "good", 1),
                                                   ("zendesk", "basic", "2026-10-05", "good", 1)]
