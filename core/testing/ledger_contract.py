"""The ledger contract: checks every storage backend must pass, whatever database it keeps.

A backend package runs them against its own backend with a few lines::

    import pytest
    from tierctl.testing import LedgerContract

    class TestMyBackend(LedgerContract):
        @pytest.fixture
        def ledger_url(self, tmp_path):
            return "mydb://localhost/test"   # an empty ledger for each test

        def runs_died(self, ledger):
            ...   # only for backends with concurrent_sends: let every run so far count as dead

tierctl runs it against its SQLite ledger and against a real PostgreSQL
server (tests/storage/test_ledger_contract.py). Checks of one backend's
own machinery (files, migrations of old versions, query plans) stay in
that backend's tests.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tierctl.errors import LockHeldError, TierctlError
from tierctl.records import Invitation, SendResult, StoredResponse
from tierctl.storage.ledger import Ledger
from tierctl.storage.opener import open_ledger

__all__ = ["LedgerContract", "NOW", "THROTTLED", "invitation", "stored_response"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
THROTTLED = {"nps": True, "onboarding": True, "ticket": False}


def invitation(n: int | str, *, survey: str = "nps", email: str | None = None, occasion: str = "2026-Q1",
               invite_id: str | None = None, closes_at: datetime | None = None) -> Invitation:
    """A small invitation; ``n`` makes the contact (and the default invite id) unique."""
    return Invitation(
        invite_id=invite_id or f"inv-{survey}-{n}-{occasion}",
        survey_id=survey, survey_title="How are we doing?", tier="advanced",
        account_id=f"acct-{n}", account_name=f"Account {n}",
        contact_email=email or f"contact{n}@example.com", contact_name=f"Contact {n}",
        role="admin", locale="en", occasion=occasion,
        due_at=NOW, closes_at=closes_at or NOW + timedelta(days=30))


def stored_response(invite_id: str, n: int = 1, *, response_id: str | None = None, survey: str = "nps",
                    answers: dict | None = None) -> StoredResponse:
    """A response as built by hand: without its invitation's key (the ledger looks it up)."""
    return StoredResponse(
        response_id or f"import:{invite_id}", invite_id, survey, "advanced", "2026-01-01", NOW + timedelta(days=n),
        "import", answers if answers is not None else {"score": 9, "comment": "=1+1"}, NOW + timedelta(days=30),
        {"score": "nps", "comment": "text"})


def claim(ledger: Ledger, invitations: Any, now: datetime = NOW, run_id: int | None = None,
          provider: str = "outbox") -> list[Invitation]:
    run_id = run_id or ledger.begin_run("send", now)
    return ledger.claim_batch(list(invitations), run_id, now, provider, THROTTLED)


def rows(ledger: Ledger, **filters: Any) -> dict[str, dict]:
    return {row["invite_id"]: row for row in ledger.invitations(**filters)}


def ids(responses: list[StoredResponse]) -> list[str]:
    return [r.response_id for r in responses]


class LedgerContract:
    """The contract suite for a :class:`~tierctl.storage.ledger.Ledger` backend; subclass it in your tests.

    Fixtures and hooks a subclass provides or may override:

    ``ledger_url`` (fixture, required)
        a ``storage.url`` naming a new, empty ledger for each test.
    :meth:`runs_died`
        makes every run begun so far count as dead, as if its process had
        been killed; needed only by backends with ``concurrent_sends`` (whose
        :meth:`~tierctl.storage.ledger.Ledger.mark_stale_sending` leaves live
        runs alone). The default does nothing.
    """

    @pytest.fixture
    def ledger_url(self) -> str:
        raise NotImplementedError("a LedgerContract subclass must define the ledger_url fixture")

    @pytest.fixture
    def ledger(self, ledger_url: str, tmp_path: Path) -> Iterator[Ledger]:
        with open_ledger(ledger_url, tmp_path) as opened:
            yield opened

    def runs_died(self, ledger: Ledger) -> None:
        """Let every run begun so far count as dead (see the class docstring)."""

    def test_naive_datetimes_are_a_programming_error(self, ledger: Ledger):
        with pytest.raises(ValueError, match="timezone-aware"):
            ledger.begin_run("send", NOW.replace(tzinfo=None))

    def test_claim_inserts_sending_rows_and_a_key_is_claimed_only_once(self, ledger: Ledger):
        first = claim(ledger, [invitation(1), invitation(2)])
        assert [i.invite_id for i in first] == ["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"]
        row = rows(ledger)["inv-nps-1-2026-Q1"]
        assert row["state"] == "sending" and row["attempts"] == 1 and row["provider"] == "outbox"
        assert row["created_at"] == row["claimed_at"] == row["updated_at"] == NOW
        assert row["sent_at"] is None and row["throttled"] is True
        # Same key, new invite id (a second run plans again): nothing to send.
        assert claim(ledger, [invitation(1, invite_id="another-id")]) == []
        # A key repeated within one batch is claimed once; other occasions and surveys are other keys.
        again = claim(ledger, [invitation(3), invitation(3, invite_id="dup"), invitation(1, occasion="2026-Q2"),
                               invitation(1, survey="ticket")])
        assert [i.invite_id for i in again] == ["inv-nps-3-2026-Q1", "inv-nps-1-2026-Q2", "inv-ticket-1-2026-Q1"]
        assert rows(ledger)["inv-ticket-1-2026-Q1"]["throttled"] is False
        assert len(rows(ledger)) == 5
        assert claim(ledger, []) == []

    def test_deferred_and_retry_rows_are_taken_over_with_their_invite_id(self, ledger: Ledger):
        ledger.record_deferred([invitation(1)], {"inv-nps-1-2026-Q1": "surveyed 3 days ago"}, NOW, "outbox", THROTTLED)
        run = ledger.begin_run("send", NOW)
        ledger.claim_batch([invitation(2)], run, NOW, "outbox", THROTTLED)
        ledger.record_results([SendResult.failed("inv-nps-2-2026-Q1", "451 try later", retry=True)], NOW)

        later = NOW + timedelta(days=5)
        run2 = ledger.begin_run("send", later)
        fresh = [invitation(1, invite_id="new-1", closes_at=later + timedelta(days=9)), invitation(2, invite_id="new-2")]
        claimed = ledger.claim_batch(fresh, run2, later, "mail", THROTTLED)
        assert [i.invite_id for i in claimed] == ["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"]
        assert claimed[0] == replace(fresh[0], invite_id="inv-nps-1-2026-Q1")  # everything else as planned now
        stored = rows(ledger)
        assert set(stored) == {"inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"}
        one, two = stored["inv-nps-1-2026-Q1"], stored["inv-nps-2-2026-Q1"]
        assert (one["state"], one["attempts"], one["run_id"], one["provider"]) == ("sending", 1, run2, "mail")
        assert (two["state"], two["attempts"], two["run_id"]) == ("sending", 2, run2)
        assert one["claimed_at"] == later and one["created_at"] == NOW
        assert one["closes_at"] == later + timedelta(days=9)
        assert one["reason"] is None and two["reason"] is None
        # Taken over once: a third claim gets nothing.
        assert ledger.claim_batch(fresh, run2, later, "mail", THROTTLED) == []

    @pytest.mark.parametrize("outcome", ["sending", "sent", "failed", "unknown"])
    def test_rows_that_may_have_gone_out_are_never_claimed_again(self, ledger: Ledger, outcome: str):
        claim(ledger, [invitation(1)])
        if outcome == "sent":
            ledger.record_results([SendResult.sent("inv-nps-1-2026-Q1")], NOW)
        elif outcome == "failed":
            ledger.record_results([SendResult.failed("inv-nps-1-2026-Q1", "550 no such user")], NOW)
        elif outcome == "unknown":
            self.runs_died(ledger)
            ledger.mark_stale_sending(NOW)
        assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == outcome
        assert claim(ledger, [invitation(1, invite_id="x")], now=NOW + timedelta(days=1)) == []
        assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == outcome
        assert rows(ledger)["inv-nps-1-2026-Q1"]["attempts"] == 1

    def test_record_results_state_transitions(self, ledger: Ledger):
        claim(ledger, [invitation(n) for n in range(4)])
        later = NOW + timedelta(minutes=1)
        changed = ledger.record_results([
            SendResult.sent("inv-nps-0-2026-Q1", "platform-0"),
            SendResult.sent("inv-nps-1-2026-Q1"),
            SendResult.failed("inv-nps-2-2026-Q1", "429 too many requests", retry=True),
            SendResult.failed("inv-nps-3-2026-Q1", "bounced", retry=False),
            SendResult.sent("no-such-invitation"),
        ], later)
        assert changed == 4
        stored = rows(ledger)
        assert [stored[f"inv-nps-{n}-2026-Q1"]["state"] for n in range(4)] == ["sent", "sent", "retry", "failed"]
        assert stored["inv-nps-0-2026-Q1"]["sent_at"] == later
        assert stored["inv-nps-0-2026-Q1"]["external_id"] == "platform-0"
        assert stored["inv-nps-1-2026-Q1"]["external_id"] is None
        assert stored["inv-nps-2-2026-Q1"]["reason"] == "429 too many requests"
        assert stored["inv-nps-2-2026-Q1"]["sent_at"] is None
        assert stored["inv-nps-3-2026-Q1"]["reason"] == "bounced"
        assert stored["inv-nps-3-2026-Q1"]["updated_at"] == later
        # Only 'sending' rows change: a late or repeated result cannot undo an outcome.
        assert ledger.record_results([SendResult.failed("inv-nps-0-2026-Q1", "late failure"),
                                      SendResult.sent("inv-nps-3-2026-Q1")], later) == 0
        assert rows(ledger)["inv-nps-0-2026-Q1"]["state"] == "sent"
        assert rows(ledger)["inv-nps-3-2026-Q1"]["state"] == "failed"
        assert ledger.record_results([], later) == 0

    def test_record_deferred_stores_new_keys_updates_deferred_and_leaves_others(self, ledger: Ledger):
        claim(ledger, [invitation(1)])  # sending
        ledger.record_deferred([invitation(1, invite_id="d1"), invitation(2, invite_id="d2")],
                               {"d1": "throttled", "d2": "surveyed 2026-02-20"}, NOW, "outbox", THROTTLED)
        stored = rows(ledger)
        assert stored["inv-nps-1-2026-Q1"]["state"] == "sending" and stored["inv-nps-1-2026-Q1"]["reason"] is None
        assert "d1" not in stored
        assert (stored["d2"]["state"], stored["d2"]["reason"], stored["d2"]["attempts"]) == \
            ("deferred", "surveyed 2026-02-20", 0)
        assert stored["d2"]["claimed_at"] is None
        later = NOW + timedelta(days=1)
        ledger.record_deferred([invitation(2, invite_id="d2-again")], {}, later, "outbox", THROTTLED)
        stored = rows(ledger)
        assert "d2-again" not in stored
        assert (stored["d2"]["reason"], stored["d2"]["updated_at"], stored["d2"]["created_at"]) == \
            ("deferred", later, NOW)
        ledger.record_deferred([], {}, later, "outbox", THROTTLED)

    def test_known_keys_are_the_open_occasions_with_their_state(self, ledger: Ledger):
        closes = NOW + timedelta(days=1)
        claim(ledger, [invitation(1, closes_at=closes), invitation(2, closes_at=NOW - timedelta(seconds=1)),
                       invitation(3, closes_at=closes)])
        ledger.record_results([SendResult.sent("inv-nps-1-2026-Q1")], NOW)
        ledger.record_deferred([invitation(4, closes_at=closes)], {}, NOW, "outbox", THROTTLED)
        assert ledger.known_keys(NOW) == {
            ("nps", "contact1@example.com", "2026-Q1"): "sent",
            ("nps", "contact3@example.com", "2026-Q1"): "sending",
            ("nps", "contact4@example.com", "2026-Q1"): "deferred",
        }
        assert set(ledger.known_keys(closes)) == set(ledger.known_keys(NOW))  # closes_at itself is still open
        assert ledger.known_keys(closes + timedelta(microseconds=1)) == {}
        assert len(ledger.known_keys(NOW - timedelta(days=1))) == 4

    def test_last_surveyed_counts_throttled_sends_that_may_have_gone_out(self, ledger: Ledger):
        t0 = NOW - timedelta(days=40)
        t1 = NOW - timedelta(days=10)
        t2 = NOW - timedelta(days=2)
        # a@: sent long ago and recently (the latest wins); b@: sent but before the window.
        claim(ledger, [invitation("a1", email="a@x.com", occasion="old"), invitation("b", email="b@x.com")], now=t0)
        ledger.record_results([SendResult.sent("inv-nps-a1-old"), SendResult.sent("inv-nps-b-2026-Q1")], t0)
        claim(ledger, [invitation("a2", email="a@x.com", survey="onboarding")], now=t1)
        ledger.record_results([SendResult.sent("inv-onboarding-a2-2026-Q1")], t1 + timedelta(minutes=1))
        # c@ is still sending, d@ unknown: both may have been surveyed, from when they were claimed.
        claim(ledger, [invitation("c", email="c@x.com"), invitation("d", email="d@x.com")], now=t2)
        self.runs_died(ledger)
        ledger.mark_stale_sending(t2 + timedelta(hours=1))
        claim(ledger, [invitation("c", email="c@x.com", occasion="other")], now=t2)
        # Not counted: an exempt survey (ticket), failures, retries, deferrals.
        claim(ledger, [invitation("e", email="e@x.com", survey="ticket"), invitation("f", email="f@x.com"),
                       invitation("g", email="g@x.com")], now=t2)
        ledger.record_results([SendResult.sent("inv-ticket-e-2026-Q1"), SendResult.failed("inv-nps-f-2026-Q1", "bounced"),
                               SendResult.failed("inv-nps-g-2026-Q1", "timeout", retry=True)], t2)
        ledger.record_deferred([invitation("h", email="h@x.com")], {}, t2, "outbox", THROTTLED)

        since = NOW - timedelta(days=30)
        assert ledger.last_surveyed(since) == {
            "a@x.com": t1 + timedelta(minutes=1),
            "c@x.com": t2,
            "d@x.com": t2,
        }
        assert all(v.tzinfo is not None for v in ledger.last_surveyed(since).values())
        assert set(ledger.last_surveyed(t0)) == {"a@x.com", "b@x.com", "c@x.com", "d@x.com"}  # `since` is inclusive
        assert set(ledger.last_surveyed(t2 + timedelta(microseconds=1))) == set()

    def test_contact_times_are_every_time_a_contact_may_have_been_reached(self, ledger: Ledger):
        t1, t2 = NOW - timedelta(days=3), NOW - timedelta(days=1)
        claim(ledger, [invitation("a", email="a@x.com", occasion="one")], now=t1)
        ledger.record_results([SendResult.sent("inv-nps-a-one")], t1)
        claim(ledger, [invitation("a", email="a@x.com", occasion="two"), invitation("b", email="b@x.com"),
                       invitation("c", email="c@x.com", survey="ticket")], now=t2)
        ledger.record_results([SendResult.failed("inv-nps-b-2026-Q1", "bounced")], t2)
        times = {email: sorted(at) for email, at in ledger.contact_times(NOW - timedelta(days=7)).items()}
        assert times == {"a@x.com": [t1, t2]}  # b failed, c's survey is not throttled
        assert Ledger.contact_times(ledger, NOW - timedelta(days=7)).keys() == times.keys()  # the default agrees
        assert ledger.contact_times(t2 + timedelta(microseconds=1)) == {}

    def test_a_deferral_sent_later_throttles_from_when_it_was_claimed(self, ledger: Ledger):
        ledger.record_deferred([invitation(1)], {}, NOW - timedelta(days=20), "outbox", THROTTLED)
        claim(ledger, [invitation(1)], now=NOW)
        assert ledger.last_surveyed(NOW - timedelta(days=1)) == {"contact1@example.com": NOW}

    def test_stale_sending_becomes_unknown_and_can_be_requeued(self, ledger: Ledger):
        dead_run = ledger.begin_run("send", NOW)
        ledger.claim_batch([invitation(1), invitation(2)], dead_run, NOW, "outbox", THROTTLED)
        ledger.record_results([SendResult.sent("inv-nps-2-2026-Q1")], NOW)
        later = NOW + timedelta(hours=1)
        self.runs_died(ledger)
        stale = ledger.mark_stale_sending(later)
        assert stale == [{"invite_id": "inv-nps-1-2026-Q1", "survey_id": "nps", "contact_email": "contact1@example.com",
                          "occasion": "2026-Q1", "run_id": dead_run}]
        row = rows(ledger)["inv-nps-1-2026-Q1"]
        assert (row["state"], row["updated_at"]) == ("unknown", later)
        assert "may or may not have gone out" in row["reason"]
        assert ledger.recent_runs()[0]["status"] == "interrupted"
        assert ledger.mark_stale_sending(later) == []
        assert ledger.requeue_unknown(later) == 1
        assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == "retry"
        assert ledger.requeue_unknown(later) == 0
        again = claim(ledger, [invitation(1, invite_id="new")], now=later)
        assert [i.invite_id for i in again] == ["inv-nps-1-2026-Q1"]
        assert rows(ledger)["inv-nps-1-2026-Q1"]["attempts"] == 2

    def test_runs_are_recorded_newest_first(self, ledger: Ledger):
        first = ledger.begin_run("send", NOW)
        second = ledger.begin_run("pull", NOW + timedelta(minutes=5))
        ledger.finish_run(first, NOW + timedelta(minutes=1), "ok", {"sent": 3, "failed": 0})
        runs = ledger.recent_runs()
        assert [r["id"] for r in runs] == [second, first]
        assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None and runs[0]["counts"] == {}
        assert runs[1] == {"id": first, "kind": "send", "pid": os.getpid(), "host": runs[1]["host"],
                           "started_at": NOW, "finished_at": NOW + timedelta(minutes=1), "status": "ok",
                           "counts": {"failed": 0, "sent": 3}}
        assert len(ledger.recent_runs(limit=1)) == 1
        with pytest.raises(ValueError, match="no run 999"):
            ledger.finish_run(999, NOW, "ok", {})

    def test_status_counts_and_listings(self, ledger: Ledger):
        claim(ledger, [invitation(n) for n in range(3)] + [invitation(9, survey="onboarding")])
        ledger.record_results([SendResult.sent("inv-nps-0-2026-Q1")], NOW + timedelta(minutes=1))
        ledger.record_results([SendResult.failed("inv-nps-1-2026-Q1", "bounced")], NOW + timedelta(minutes=2))
        assert ledger.status_counts() == {"nps": {"sending": 1, "sent": 1, "failed": 1},
                                          "onboarding": {"sending": 1}}
        listed = ledger.invitations()
        assert [r["invite_id"] for r in listed[:2]] == ["inv-nps-1-2026-Q1", "inv-nps-0-2026-Q1"]  # latest first
        assert [r["invite_id"] for r in ledger.invitations(state="sending", survey_id="nps")] == ["inv-nps-2-2026-Q1"]
        assert len(ledger.invitations(limit=2)) == 2
        assert ledger.invitations(survey_id="nope") == []
        with pytest.raises(ValueError, match="unknown state 'lost'"):
            ledger.invitations(state="lost")

    def test_pull_cursors(self, ledger: Ledger):
        assert ledger.get_cursor("typeform", "nps") is None
        ledger.set_cursor("typeform", "nps", "page-2", NOW)
        ledger.set_cursor("typeform", "nps", "page-3", NOW)
        ledger.set_cursor("typeform", "onboarding", "a", NOW)
        assert ledger.get_cursor("typeform", "nps") == "page-3"
        assert ledger.get_cursor("qualtrics", "nps") is None

    def test_claiming_and_recording_20000_invitations_in_batches_of_100(self, ledger: Ledger):
        import secrets

        invitations = [invitation(n, invite_id=secrets.token_urlsafe(12), email=f"{secrets.token_hex(6)}@example.com")
                       for n in range(20_000)]
        run = ledger.begin_run("send", NOW)
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(invitations), 100):
            claimed = ledger.claim_batch(invitations[start:start + 100], run, NOW, "outbox", THROTTLED)
            ledger.record_results([SendResult.sent(i.invite_id) for i in claimed], NOW)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        # Printed, not asserted (shared machines vary); expected well under 2 s.
        print(f"\nclaim_batch + record_results, 20,000 invitations in batches of 100: "
              f"{took:.2f} s ({cpu:.2f} s CPU)")
        assert ledger.status_counts() == {"nps": {"sent": 20_000}}

    def test_claims_and_deferrals_store_the_local_due_day(self, ledger: Ledger):
        claim(ledger, [replace(invitation(1), due_day="2026-03-03"), invitation(2)])  # 2: no due_day given
        ledger.record_deferred([replace(invitation(3), due_day="2026-03-04")], {}, NOW, "outbox", THROTTLED)
        stored = rows(ledger)
        assert stored["inv-nps-1-2026-Q1"]["due_day"] == "2026-03-03"
        assert stored["inv-nps-2-2026-Q1"]["due_day"] == NOW.date().isoformat()  # the UTC day, as migrated rows
        assert stored["inv-nps-3-2026-Q1"]["due_day"] == "2026-03-04"
        run = ledger.begin_run("send", NOW)
        ledger.claim_batch([replace(invitation(3, invite_id="x"), due_day="2026-03-05")], run, NOW, "outbox", THROTTLED)
        assert rows(ledger)["inv-nps-3-2026-Q1"]["due_day"] == "2026-03-05"  # taken over with today's plan

    def test_claims_keep_the_contacts_locale(self, ledger: Ledger):
        """The hosted form speaks the invitation's language: the locale is kept at claim time
        (and at a takeover of a deferred row, with today's plan); ``""`` when none was given."""
        claim(ledger, [replace(invitation(1), locale="nl-BE"), replace(invitation(2), locale="")])
        ledger.record_deferred([invitation(3)], {}, NOW, "outbox", THROTTLED)
        assert ledger.invitation("inv-nps-1-2026-Q1")["locale"] == "nl-BE"  # type: ignore[index]
        assert rows(ledger)["inv-nps-2-2026-Q1"]["locale"] == ""
        run = ledger.begin_run("send", NOW)
        ledger.claim_batch([replace(invitation(3, invite_id="x"), locale="de")], run, NOW, "outbox", THROTTLED)
        assert ledger.invitation("inv-nps-3-2026-Q1")["locale"] == "de"  # type: ignore[index]

    def test_lookups_for_linking_responses(self, ledger: Ledger):
        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(3)]
              + [invitation(0, occasion="2026-Q2", closes_at=NOW + timedelta(days=90))])
        ledger.record_results([SendResult.sent(f"inv-nps-{n}-2026-Q1") for n in (0, 1)]
                              + [SendResult.sent("inv-nps-0-2026-Q2")], NOW)
        found = ledger.lookup_invitations(["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1", "nope", "inv-nps-1-2026-Q1"])
        assert set(found) == {"inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"}
        link = found["inv-nps-1-2026-Q1"]
        assert link._asdict() == {
            "key": link.key, "invite_id": "inv-nps-1-2026-Q1", "survey_id": "nps",
            "contact_email": "contact1@example.com", "occasion": "2026-Q1", "tier": "advanced", "account_id": "acct-1",
            "state": "sent", "due_day": "2026-03-02", "due_at": "2026-03-02T09:00:00.000000+00:00"}
        assert isinstance(link.key, int) and link.key != found["inv-nps-2-2026-Q1"].key
        assert found["inv-nps-2-2026-Q1"].state == "sending"
        # By e-mail: only sent invitations of that survey, in due order.
        by_email = ledger.invitations_for_contacts("nps", ["contact0@example.com", "contact2@example.com", "x@y.z"])
        assert list(by_email) == ["contact0@example.com"]
        q1, q2 = by_email["contact0@example.com"]
        assert (q1.invite_id, q2.invite_id) == ("inv-nps-0-2026-Q1", "inv-nps-0-2026-Q2")
        link = ledger.lookup_invitations([q1.invite_id])[q1.invite_id]
        assert q1._asdict() == {"key": link.key, "invite_id": link.invite_id, "tier": link.tier,
                                "due_day": link.due_day, "due_at": link.due_at}
        assert ledger.invitations_for_contacts("other", ["contact0@example.com"]) == {}
        big = [f"id-{n}" for n in range(25_000)] + ["inv-nps-0-2026-Q1"]  # more than one query's worth
        assert list(ledger.lookup_invitations(big)) == ["inv-nps-0-2026-Q1"]

    def test_answerable_invitations_are_the_handed_out_ones_of_the_survey(self, ledger: Ledger):
        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(2)]
              + [invitation(3, survey="ticket")])
        ledger.record_deferred([invitation(4)], {}, NOW, "outbox", THROTTLED)
        ledger.record_results([SendResult.sent("inv-nps-0-2026-Q1")], NOW)
        asked = ["inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1", "inv-ticket-3-2026-Q1", "inv-nps-4-2026-Q1", "nope",
                 "inv-nps-0-2026-Q1"]
        refs = ledger.answerable_invitations("nps", asked)
        links = ledger.lookup_invitations(asked)
        # Sent or still sending: answerable. Another survey's, deferred (never sent) or unknown: absent.
        assert refs == {i: (links[i].key, i, "advanced", "2026-03-02", links[i].due_at)
                           for i in ("inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1")}
        assert (refs["inv-nps-0-2026-Q1"].tier, refs["inv-nps-0-2026-Q1"].due_day) == ("advanced", "2026-03-02")
        # The interface's own answer (from lookup_invitations, for other backends) is the same.
        assert Ledger.answerable_invitations(ledger, "nps", asked) == refs

    def test_responses_for_an_account(self, ledger: Ledger):
        # The ticket survey went to the same contact of account 1 (the response's account is the invitation's).
        claim(ledger, [invitation(1), replace(invitation(2, survey="ticket", email="contact1@example.com"),
                                              account_id="acct-1")])
        ledger.add_responses([stored_response("inv-ticket-2-2026-Q1", 2, survey="ticket"),
                              stored_response("inv-nps-1-2026-Q1", 1)])
        found = ledger.responses_for_account("acct-1")
        assert [r["response_id"] for r in found] == ["import:inv-nps-1-2026-Q1", "import:inv-ticket-2-2026-Q1"]
        assert found[0]["submitted_at"] == NOW + timedelta(days=1)
        assert found[0]["answers"] == {"score": {"qtype": "nps", "score": 9, "text": None},
                                       "comment": {"qtype": "text", "score": None, "text": "=1+1"}}
        assert found[0]["invite_id"] == "inv-nps-1-2026-Q1" and found[0]["source"] == "import"
        assert [r["survey_id"] for r in ledger.responses_for_account("acct-1", "ticket")] == ["ticket"]
        assert ledger.responses_for_account("acct-9") == []
        assert ledger.account_ids() == {"acct-1"}
        assert [r["invite_id"] for r in ledger.invitations_for_account("acct-1", ["nps"])] == ["inv-nps-1-2026-Q1"]
        assert ledger.invitations_for_account("acct-1", []) == []

    def test_the_response_of_one_invitation(self, ledger: Ledger):
        """Looked up by the invitation (the form and a texted score need one, not the account's all),
        the same as the account's responses give it; the interface's default agrees."""
        claim(ledger, [invitation(1), replace(invitation(2, survey="ticket", email="contact1@example.com"),
                                              account_id="acct-1")])
        ledger.add_responses([stored_response("inv-ticket-2-2026-Q1", 2, survey="ticket"),
                              stored_response("inv-nps-1-2026-Q1", 1)])
        found = ledger.response_of_invitation("inv-nps-1-2026-Q1")
        assert found == next(r for r in ledger.responses_for_account("acct-1") if r["invite_id"] == "inv-nps-1-2026-Q1")
        assert ledger.response_of_invitation("inv-nps-0-2026-Q1") is None  # not claimed
        claim(ledger, [invitation(3)])
        assert ledger.response_of_invitation("inv-nps-3-2026-Q1") is None  # claimed, not answered
        assert Ledger.response_of_invitation(ledger, "inv-nps-1-2026-Q1") == found
        assert Ledger.response_of_invitation(ledger, "no-such-invite") is None

    def test_a_question_whose_type_changed_is_refused(self, ledger: Ledger):
        claim(ledger, [invitation(n) for n in range(2)])
        ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0)])
        changed = stored_response("inv-nps-1-2026-Q1", 1)._replace(question_types={"score": "rating", "comment": "text"})
        with pytest.raises(TierctlError, match=r"surveys\.nps\.questions: question 'score' is now of type 'rating', "
                                               r"but the ledger holds answers to it as type 'nps'.*new id"):
            ledger.add_responses([changed])
        assert len(ledger.responses_for_account("acct-1")) == 0  # nothing of the batch was stored

    # -- backend-neutral checks of storing responses, several connections, locks, copying -------------

    def test_add_responses_keeps_the_first_response_per_invitation(self, ledger: Ledger):
        claim(ledger, [invitation(n) for n in range(4)])
        first = [stored_response("inv-nps-0-2026-Q1", 0), stored_response("inv-nps-1-2026-Q1", 1),
                 stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:abc")]  # a second answer to 1
        added = ledger.add_responses(first)
        assert ids(added) == ids(first[:2])
        links = ledger.lookup_invitations(["inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1"])
        assert [r.invitation for r in added] == [links["inv-nps-0-2026-Q1"].key, links["inv-nps-1-2026-Q1"].key]
        again = [stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 0}),     # the same response id
                 stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:x"),  # another id, answered invitation
                 stored_response("inv-nps-2-2026-Q1", 2, answers={"score": 5})]
        assert ids(ledger.add_responses(again)) == ids(again[2:])
        assert ledger.add_responses(again) == []
        assert ledger.add_responses([]) == []
        answers = {r["invite_id"]: (r["answers"], r["submitted_at"], r["source"])
                   for n in range(4) for r in ledger.responses_for_account(f"acct-{n}")}
        assert answers["inv-nps-2-2026-Q1"] == ({"score": {"qtype": "nps", "score": 5, "text": None}},
                                                NOW + timedelta(days=2), "import")
        assert answers["inv-nps-0-2026-Q1"][0]["score"]["score"] == 9 and len(answers) == 3
        # The metrics count exactly what was stored, from the rollup and raw alike.
        for use_rollup in (True, False):
            counts = sorted((c[3], c[5], c[7]) for c in ledger.metrics(use_rollup=use_rollup).answer_counts(
                "quarter", None, None))
            assert counts == [("comment", None, 2), ("score", 5.0, 1), ("score", 9.0, 2)]
            assert [c[3] for c in ledger.metrics(use_rollup=use_rollup).response_counts("quarter", None, None)] == [3]
        with pytest.raises(ValueError, match="no invitation 'no-such-invitation' in the ledger"):
            ledger.add_responses([stored_response("no-such-invitation", 9)])
        with pytest.raises(Exception):  # the schema refuses a response to no invitation too
            ledger.add_responses([stored_response("inv-nps-3-2026-Q1", 3)._replace(invitation=10_000_000)])

    def test_prepared_responses_are_stored_as_the_rows_themselves(self, ledger: Ledger):
        # prepare_responses may do part of add_responses' work early (an import, in another thread).
        claim(ledger, [invitation(n) for n in range(3)])
        rows = [stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 9, "comment": "tab\there\nand a line"}),
                stored_response("inv-nps-1-2026-Q1", 1),
                stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:abc")]  # a second answer to 1
        prepared = ledger.prepare_responses(rows)
        assert ids(ledger.add_responses(prepared)) == ids(rows[:2])
        assert ledger.add_responses(ledger.prepare_responses(rows)) == []
        later = [stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:x"),
                 stored_response("inv-nps-2-2026-Q1", 2, answers={"score": 5})]
        assert ids(ledger.add_responses(ledger.prepare_responses(later))) == ids(later[1:])
        answers = {r["invite_id"]: r["answers"] for n in range(3) for r in ledger.responses_for_account(f"acct-{n}")}
        assert answers["inv-nps-0-2026-Q1"]["comment"]["text"] == "tab\there\nand a line"
        assert answers["inv-nps-2-2026-Q1"] == {"score": {"qtype": "nps", "score": 5, "text": None}}
        for use_rollup in (True, False):
            counts = sorted((c[3], c[5], c[7]) for c in ledger.metrics(use_rollup=use_rollup).answer_counts(
                "quarter", None, None))
            assert counts == [("comment", None, 2), ("score", 5.0, 1), ("score", 9.0, 2)]

    def test_answers_keep_every_character(self, ledger: Ledger):
        # A bulk path writing text formats (COPY) must escape what those formats use themselves.
        claim(ledger, [invitation(n) for n in range(2)])
        text = "tab\there\nnew line\r\nback\\slash \\N \\. end\u00e9 \u2603"
        ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 7, "comment": text},
                                              response_id="typeform:a\tb\\c\nd"),
                              stored_response("inv-nps-1-2026-Q1", 1, answers={"score": 10, "comment": "\\N"})])
        found = {r["invite_id"]: r for n in range(2) for r in ledger.responses_for_account(f"acct-{n}")}
        assert found["inv-nps-0-2026-Q1"]["answers"]["comment"]["text"] == text
        assert found["inv-nps-0-2026-Q1"]["response_id"] == "typeform:a\tb\\c\nd"
        assert found["inv-nps-1-2026-Q1"]["answers"] == {"score": {"qtype": "nps", "score": 10, "text": None},
                                                         "comment": {"qtype": "text", "score": None, "text": "\\N"}}

    def test_helpdesk_ratings_are_kept_once_and_updated_in_place(self, ledger: Ledger):
        from tierctl.records import HelpdeskRating

        at = datetime(2026, 10, 5, 10, 0, tzinfo=timezone.utc)
        rows = [HelpdeskRating("1", "basic", "org-1", "bad", at, "2026-10-05"),
                HelpdeskRating("2", "basic", "org-1", "good", at, "2026-10-05")]
        assert ledger.add_helpdesk_ratings("zendesk", rows) == 2
        # the same ratings again, one changed to good and moved to another tier: nothing new
        again = [rows[0]._replace(score="good", tier="advanced"), rows[1]]
        assert ledger.add_helpdesk_ratings("zendesk", again) == 0
        # another helpdesk may use the same ids
        assert ledger.add_helpdesk_ratings("freshdesk", rows[:1]) == 1
        assert ledger.helpdesk_rating_counts() == [("freshdesk", "basic", "2026-10-05", "bad", 1),
                                                   ("zendesk", "advanced", "2026-10-05", "good", 1),
                                                   ("zendesk", "basic", "2026-10-05", "good", 1)]

    def test_stored_scope_and_metrics_of_an_empty_ledger(self, ledger: Ledger):
        assert ledger.stored_scope() == (set(), set())
        metrics = ledger.metrics()
        assert list(metrics.answer_counts("month", None, None)) == []
        assert list(metrics.response_counts("month", None, None)) == []
        assert list(metrics.invitation_counts("month", None, None)) == []
        claim(ledger, [invitation(1), invitation(2, survey="ticket")])
        assert ledger.stored_scope() == ({"nps", "ticket"}, {"advanced"})
        assert list(ledger.metrics().invitation_counts("month", "nps", None)) == [
            ("nps", "advanced", "2026-03", "sending", 1, 0)]

    def test_a_closed_ledger_cannot_be_used(self, ledger_url: str, tmp_path: Path):
        ledger = open_ledger(ledger_url, tmp_path)
        ledger.close()
        ledger.close()
        with pytest.raises(RuntimeError, match="closed"):
            ledger.status_counts()

    def test_reopening_keeps_everything(self, ledger_url: str, tmp_path: Path):
        with open_ledger(ledger_url, tmp_path) as ledger:
            claim(ledger, [invitation(1)])
        with open_ledger(ledger_url, tmp_path) as ledger:
            assert ledger.status_counts() == {"nps": {"sending": 1}}

    def test_concurrent_connections_claim_each_key_exactly_once(self, ledger_url: str, tmp_path: Path):
        open_ledger(ledger_url, tmp_path).close()
        count, workers = 600, 4
        barrier = threading.Barrier(workers)
        claimed: list[list[tuple[str, str]]] = [[] for _ in range(workers)]
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                keys = list(range(count))
                if k % 2:
                    keys.reverse()
                mine = [invitation(n, invite_id=f"w{k}-{n}") for n in keys]
                with open_ledger(ledger_url, tmp_path) as ledger:
                    run = ledger.begin_run("send", NOW)
                    barrier.wait()
                    for start in range(0, count, 25):
                        got = ledger.claim_batch(mine[start:start + 25], run, NOW, "outbox", THROTTLED)
                        claimed[k].extend((i.contact_email, i.invite_id) for i in got)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        every = [email for share in claimed for email, _ in share]
        assert len(every) == count and len(set(every)) == count
        with open_ledger(ledger_url, tmp_path) as ledger:
            stored = rows(ledger)
        assert {invite_id for share in claimed for _, invite_id in share} == set(stored)

    def test_a_lock_is_exclusive_and_released(self, ledger_url: str, tmp_path: Path):
        with open_ledger(ledger_url, tmp_path) as one, open_ledger(ledger_url, tmp_path) as two:
            with one.lock("send"):
                with pytest.raises(LockHeldError, match=f"pid {os.getpid()}") as caught:
                    with two.lock("send"):
                        pass
                assert caught.value.exit_code == 3
                with two.lock("pull"):  # another name is another lock
                    pass
            with two.lock("send"):
                pass
            with pytest.raises(ValueError, match="bad lock name"):
                with one.lock("Send Now"):
                    pass

    # -- opt-outs, changed answers, erasure ------------------------------------------------------

    def test_a_suppression_fails_queued_invitations_in_its_scope_only(self, ledger: Ledger):
        from tierctl.storage.ledger import ALL_SURVEYS, suppression_key

        ledger.record_deferred([invitation(1), invitation(1, survey="ticket")], {}, NOW, "outbox",
                               {"nps": True, "ticket": False})
        claim(ledger, [invitation(2)])
        assert ledger.add_suppression("Contact1@Example.com", "nps", "link", None, NOW) is True
        assert ledger.add_suppression("contact1@example.com", "nps", "manual", "again", NOW) is False
        got = {r["invite_id"]: (r["state"], r["reason"]) for r in ledger.invitations()}
        assert got["inv-nps-1-2026-Q1"] == ("failed", "opted out")
        assert got["inv-ticket-1-2026-Q1"][0] == "deferred"
        assert got["inv-nps-2-2026-Q1"][0] == "sending"
        ledger.add_suppression("contact1@example.com", None, "manual", "by phone", NOW + timedelta(hours=1))
        assert ledger.invitation("inv-ticket-1-2026-Q1")["state"] == "failed"
        assert ledger.suppressed() == {suppression_key("contact1@example.com"): frozenset({"nps", ALL_SURVEYS})}
        assert [(s["address"], s["survey_id"], s["source"], s["reason"], s["created_at"])
                for s in ledger.suppressions()] == [("contact1@example.com", "nps", "link", None, NOW),
                                                    ("contact1@example.com", None, "manual", "by phone",
                                                     NOW + timedelta(hours=1))]
        assert ledger.remove_suppression("CONTACT1@example.com", "nps") == 1
        assert ledger.remove_suppression("contact1@example.com") == 1
        assert ledger.suppressed() == {}
        assert ledger.invitation("no-such-id") is None

    def test_a_number_is_suppressed_per_channel_beside_the_addresses(self, ledger: Ledger):
        from tierctl.storage.ledger import ALL_SURVEYS, phone_suppression_key, suppression_key

        claim(ledger, [invitation(1)])
        assert ledger.add_suppression(" +31612345601 ", None, "provider", "replied STOP", NOW, channel="sms") is True
        assert ledger.add_suppression("+31612345601", None, "provider", "again", NOW, channel="sms") is False
        ledger.add_suppression("contact1@example.com", "nps", "link", None, NOW)
        assert ledger.suppressed() == {phone_suppression_key("sms", "+31612345601"): frozenset({ALL_SURVEYS}),
                                       suppression_key("contact1@example.com"): frozenset({"nps"})}
        assert phone_suppression_key("whatsapp", "+31612345601") not in ledger.suppressed()
        assert sorted((s["channel"], s["address"], s["source"]) for s in ledger.suppressions()) == [
            ("email", "contact1@example.com", "link"), ("sms", "+31612345601", "provider")]
        with pytest.raises(TierctlError, match="E.164"):
            ledger.add_suppression("0612345601", None, "manual", None, NOW, channel="sms")
        with pytest.raises(ValueError, match="channel"):
            ledger.add_suppression("+31612345601", None, "manual", None, NOW, channel="pigeon")
        assert ledger.remove_suppression("+31612345601", channel="whatsapp") == 0
        assert ledger.remove_suppression("+31612345601", channel="sms") == 1
        assert set(ledger.suppressed()) == {suppression_key("contact1@example.com")}

    def test_texts_take_receipts_forward_only_and_find_the_invitation_a_reply_answers(self, ledger: Ledger):
        later = NOW + timedelta(hours=1)
        claim(ledger, [invitation(1), invitation(2), invitation(3, survey="onboarding"),
                       invitation(4, closes_at=NOW + timedelta(hours=2))])
        ledger.record_results([SendResult.sent(f"inv-nps-{n}-2026-Q1", f"SM{n}") for n in (1, 2, 4)]
                              + [SendResult.sent("inv-onboarding-3-2026-Q1", "SM3")], NOW)
        texts = [("inv-nps-1-2026-Q1", "SM1", "sms", "+31612345601", "nl-BE"),
                 ("inv-nps-2-2026-Q1", "SM2", "whatsapp", "+31612345602", ""),
                 ("inv-onboarding-3-2026-Q1", "SM3", "sms", "+31612345601", "en"),
                 ("inv-nps-4-2026-Q1", "SM4", "sms", "+31612345604", "en")]
        assert ledger.record_texts(texts, NOW) == 4
        assert ledger.record_texts(texts[:1], later) == 0  # kept once
        assert ledger.record_delivery("SM1", "delivered", "", later) is True
        assert ledger.record_delivery("SM1", "sent", "", later) is False  # late: delivered stays
        assert ledger.record_delivery("SM1", "delivered", "", later) is False  # again: nothing changes
        assert ledger.record_delivery("SM2", "sent", "", NOW) is True
        assert ledger.record_delivery("SM2", "undelivered", "30003", later) is True
        assert ledger.record_delivery("SM3", "failed", "30006", later) is True
        assert ledger.record_delivery("SM9", "delivered", "", later) is False  # not ours
        assert ledger.record_delivery("SM4", "no-such-status", "", later) is False
        assert ledger.delivery_counts() == {"nps": {"delivered": 1, "undelivered": 1},
                                            "onboarding": {"failed": 1}}
        assert sorted((t["survey_id"], t["contact_email"], t["channel"], t["delivery"], t["error_code"])
                      for t in ledger.undelivered_texts()) == [
            ("nps", "contact2@example.com", "whatsapp", "undelivered", "30003"),
            ("onboarding", "contact3@example.com", "sms", "failed", "30006")]
        assert ledger.undelivered_texts()[0]["updated_at"] == later and len(ledger.undelivered_texts(1)) == 1
        found = ledger.text_invitation("+31612345601", ["nps"], later)
        assert found == {"invite_id": "inv-nps-1-2026-Q1", "survey_id": "nps", "locale": "nl-BE",
                         "channel": "sms", "provider": "outbox"}
        assert ledger.text_invitation("+31612345601", ["onboarding", "nps"], later)["survey_id"] in (
            "nps", "onboarding")
        assert ledger.text_invitation("+31612345601", ["other"], later) is None
        assert ledger.text_invitation("+31699999999", ["nps"], later) is None
        assert ledger.text_invitation("+31612345604", ["nps"], NOW + timedelta(hours=3)) is None  # closed

    def test_forget_erases_the_numbers_texts_went_to(self, ledger: Ledger):
        from tierctl.storage.ledger import phone_suppression_key

        claim(ledger, [invitation(1)])
        ledger.record_results([SendResult.sent("inv-nps-1-2026-Q1", "SM1")], NOW)
        ledger.record_texts([("inv-nps-1-2026-Q1", "SM1", "sms", "+31612345601", "en")], NOW)
        ledger.add_suppression("+31612345601", None, "provider", "STOP", NOW, channel="sms")
        assert ledger.forget_contact("contact1@example.com", NOW)["suppressions"] == 1
        assert ledger.text_invitation("+31612345601", ["nps"], NOW) is None
        assert phone_suppression_key("sms", "+31612345601") in ledger.suppressed()  # still honoured
        assert [s["address"] for s in ledger.suppressions()] == [None]

    def test_the_latest_answer_counts_once(self, ledger: Ledger):
        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(2)])
        keys = {i: link.key for i, link in ledger.lookup_invitations(["inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1"]).items()}

        def web(invite_id: str, answers: dict, n: int = 0) -> StoredResponse:
            return stored_response(invite_id, n, response_id=f"web:{invite_id}", answers=answers)._replace(
                source="web", invitation=keys[invite_id], due_day="2026-03-02")

        assert len(ledger.store_latest_responses([web("inv-nps-0-2026-Q1", {"score": 3, "comment": "slow"}),
                                                  web("inv-nps-1-2026-Q1", {"score": 9})])) == 2
        stored = ledger.store_latest_responses([web("inv-nps-0-2026-Q1", {"score": 5}, 1),
                                                web("inv-nps-0-2026-Q1", {"score": 10}, 1)])
        assert [r.answers for r in stored] == [{"score": 10}]
        [answer] = ledger.responses_for_account("acct-0")
        assert {q: a["score"] or a["text"] for q, a in answer["answers"].items()} == {"score": 10}
        rolled = sorted(ledger.metrics().answer_counts("quarter", None, None))
        assert rolled == sorted(ledger.metrics(use_rollup=False).answer_counts("quarter", None, None))
        assert sorted((row[3], row[5], row[-1]) for row in rolled) == [("score", 9, 1), ("score", 10, 1)]
        # a response id stored for another invitation is refused
        assert ledger.store_latest_responses([web("inv-nps-0-2026-Q1", {"score": 1})._replace(
            invitation=keys["inv-nps-1-2026-Q1"])]) == []

    def test_a_multiple_choice_answer_is_counted_under_each_ticked_choice(self, ledger: Ledger):
        """A multiple_choice answer is stored as the JSON list of its ticked choices and counted once
        under each (and once under ``""``: the number of answers), raw and in the rollup alike, also
        when a later answer replaces it."""
        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(3)])
        ids = [f"inv-nps-{n}-2026-Q1" for n in range(3)]
        keys = {i: link.key for i, link in ledger.lookup_invitations(ids).items()}
        types = {"score": "nps", "areas": "multiple_choice"}

        def web(invite_id: str, areas: list[str], n: int = 0) -> StoredResponse:
            import json

            return stored_response(invite_id, n, response_id=f"web:{invite_id}", answers={
                "score": 8, "areas": json.dumps(areas, ensure_ascii=False)})._replace(
                source="web", invitation=keys[invite_id], due_day="2026-03-02", question_types=types)

        ledger.store_latest_responses([web(ids[0], ["Price", "Speed"]), web(ids[1], ["Speed"]),
                                       web(ids[2], ["Support ✓", "Price", "Speed"])])

        def areas(use_rollup: bool) -> list[tuple[Any, int]]:
            return sorted((row[6], row[7]) for row in ledger.metrics(use_rollup=use_rollup)
                          .answer_counts("quarter", None, None) if row[3] == "areas")

        assert areas(True) == areas(False) == [("", 3), ("Price", 2), ("Speed", 3), ("Support ✓", 1)]
        [answer] = ledger.responses_for_account("acct-0")
        assert answer["answers"]["areas"]["text"] == '["Price", "Speed"]'
        ledger.store_latest_responses([web(ids[0], ["Support ✓"], 1)])  # changed: the old ticks go
        assert areas(True) == areas(False) == [("", 3), ("Price", 1), ("Speed", 2), ("Support ✓", 2)]
        ledger.rebuild_rollup()
        assert areas(True) == [("", 3), ("Price", 1), ("Speed", 2), ("Support ✓", 2)]

    def test_forget_erases_the_address_and_free_text_but_keeps_counts(self, ledger: Ledger):
        from tierctl.storage.ledger import suppression_key

        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(2)])
        ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 3, "comment": "call +31 6"})])
        ledger.add_suppression("contact0@example.com", None, "link", None, NOW)
        before = sorted(ledger.metrics().answer_counts("quarter", None, None))
        assert ledger.forget_contact("Contact0@example.com", NOW) == {"invitations": 1, "text_answers": 1,
                                                                      "suppressions": 1}
        emails = {r["contact_email"] for r in ledger.invitations()}
        assert "contact0@example.com" not in emails and "contact1@example.com" in emails
        [answer] = ledger.responses_for_account("acct-0")
        assert answer["answers"]["comment"]["text"] == "[erased]" and answer["answers"]["score"]["score"] == 3
        assert sorted(ledger.metrics().answer_counts("quarter", None, None)) == before
        assert suppression_key("contact0@example.com") in ledger.suppressed()
        assert ledger.suppressions()[0]["address"] is None

    def test_copy_round_trips_through_the_portable_tables(self, ledger: Ledger, tmp_path: Path):
        from tierctl.storage.copying import check, copy_ledger

        claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(3)])
        ledger.record_results([SendResult.sent("inv-nps-0-2026-Q1", "ext-0"),
                               SendResult.failed("inv-nps-1-2026-Q1", "bounced")], NOW)
        ledger.set_cursor("typeform", "nps", "page-2", NOW)
        ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 7, "comment": "ok"})])
        from tierctl.records import HelpdeskRating

        ledger.add_helpdesk_ratings("zendesk", [HelpdeskRating("9", "basic", "org", "good", NOW, "2026-03-02")])
        ledger.add_suppression("contact2@example.com", None, "link", None, NOW)
        ledger.add_suppression("+31612345602", None, "provider", "STOP", NOW, channel="sms")
        ledger.record_texts([("inv-nps-0-2026-Q1", "SM0", "sms", "+31612345600", "nl")], NOW)
        ledger.record_delivery("SM0", "delivered", "", NOW)
        target_folder = tmp_path / "copy"
        target_folder.mkdir()
        with open_ledger(f"sqlite:///{target_folder}/copy.db", target_folder) as target:
            checks = copy_ledger(ledger, target)
            assert all(c.ok for c in checks), checks
            assert {c.table: c.source_rows for c in checks} == {
                "runs": 1, "invitations": 3, "cursors": 1, "questions": 2, "responses": 1, "answers": 2,
                "helpdesk_ratings": 1, "suppressions": 2, "texts": 1}
            assert target.suppressed() == ledger.suppressed()
            assert target.suppressions() == ledger.suppressions()
            assert target.delivery_counts() == ledger.delivery_counts() == {"nps": {"delivered": 1}}
            assert target.status_counts() == ledger.status_counts()
            assert list(target.metrics().answer_counts("quarter", None, None)) == \
                list(ledger.metrics().answer_counts("quarter", None, None))
            with pytest.raises(TierctlError, match="already holds"):
                copy_ledger(ledger, target)
            assert all(c.ok for c in check(ledger, target))
