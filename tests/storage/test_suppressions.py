"""Suppressions (opt-outs), answers changed on the hosted form, and erasure, against real SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ledger_helpers import NOW, db_url, invitation
from tierctl.records import StoredResponse
from tierctl.storage.ledger import ALL_SURVEYS, normalise_address, suppression_key
from tierctl.storage.opener import open_ledger

THROTTLED = {"nps": True, "ticket": False}


@pytest.fixture
def ledger(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as opened:
        yield opened


def states(ledger) -> dict[str, tuple[str, str | None]]:
    return {r["invite_id"]: (r["state"], r["reason"]) for r in ledger.invitations()}


def test_normalised_addresses_and_their_keys():
    assert normalise_address("  <Mailto:Ann@Example.COM> ") == "ann@example.com"
    assert suppression_key("ANN@example.com ") == suppression_key("ann@example.com")


def test_a_suppression_fails_queued_invitations_in_its_scope_only(ledger):
    ledger.record_deferred([invitation(1), invitation(1, survey="ticket")], {}, NOW, "outbox", THROTTLED)
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(2)], run, NOW, "outbox", THROTTLED)
    assert ledger.add_suppression("Contact1@Example.com", "nps", "link", None, NOW) is True
    assert ledger.add_suppression("contact1@example.com", "nps", "manual", "again", NOW) is False
    got = states(ledger)
    assert got["inv-nps-1-2026-Q1"] == ("failed", "opted out")
    assert got["inv-ticket-1-2026-Q1"][0] == "deferred"  # another survey: not in scope
    ledger.add_suppression("contact1@example.com", None, "manual", "asked by phone", NOW + timedelta(hours=1))
    assert states(ledger)["inv-ticket-1-2026-Q1"] == ("failed", "opted out")
    assert ledger.suppressed() == {suppression_key("contact1@example.com"): frozenset({"nps", ALL_SURVEYS})}
    listed = ledger.suppressions()
    assert [(s["address"], s["survey_id"], s["source"], s["reason"]) for s in listed] == [
        ("contact1@example.com", "nps", "link", None), ("contact1@example.com", None, "manual", "asked by phone")]
    assert listed[0]["created_at"] == NOW
    assert ledger.remove_suppression("CONTACT1@example.com", "nps") == 1
    assert ledger.remove_suppression("contact1@example.com") == 1
    assert ledger.suppressed() == {}
    with pytest.raises(ValueError, match="unknown suppression source"):
        ledger.add_suppression("a@b.example", None, "guess", None, NOW)


def response(invite_id: str, answers: dict, n: int = 0, key=None) -> StoredResponse:
    return StoredResponse(f"web:{invite_id}", invite_id, "nps", "advanced", NOW.date().isoformat(),
                          NOW + timedelta(days=n), "web", answers, NOW + timedelta(days=n),
                          {"score": "nps", "comment": "text"}, key)


def test_the_latest_answer_counts_once_in_the_rollup(ledger):
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(1), invitation(2)], run, NOW, "outbox", THROTTLED)
    links = ledger.lookup_invitations(["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"])
    k1, k2 = links["inv-nps-1-2026-Q1"].key, links["inv-nps-2-2026-Q1"].key
    stored = ledger.store_latest_responses([response("inv-nps-1-2026-Q1", {"score": 3, "comment": "slow"}, key=k1),
                                            response("inv-nps-2-2026-Q1", {"score": 9}, key=k2)])
    assert len(stored) == 2
    ledger.store_latest_responses([response("inv-nps-1-2026-Q1", {"score": 5}, 1, key=k1),
                                   response("inv-nps-1-2026-Q1", {"score": 10}, 1, key=k1)])  # the last one wins
    con = ledger.conn
    assert con.execute("SELECT responses FROM response_day_counts").fetchall() == [(2,)]
    assert con.execute("SELECT question_id, score, n FROM answer_day_counts ORDER BY 1, 2").fetchall() == [
        ("score", 9.0, 1), ("score", 10.0, 1)]
    assert con.execute("SELECT COUNT(*) FROM answers").fetchone() == (2,)
    # a response id already stored for another invitation is refused
    assert ledger.store_latest_responses([response("inv-nps-1-2026-Q1", {"score": 1}, key=k2)]) == []


def test_forget_erases_the_address_and_free_text_but_keeps_counts(ledger):
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(1), invitation(2)], run, NOW, "outbox", THROTTLED)
    key = ledger.lookup_invitations(["inv-nps-1-2026-Q1"])["inv-nps-1-2026-Q1"].key
    ledger.store_latest_responses([response("inv-nps-1-2026-Q1", {"score": 3, "comment": "call me: +31 6 1234"},
                                            key=key)])
    ledger.add_suppression("contact1@example.com", None, "link", None, NOW)
    assert ledger.forget_contact("Contact1@example.com", NOW) == {"invitations": 1, "text_answers": 1,
                                                                   "suppressions": 1}
    dump = "\n".join(ledger.conn.iterdump())
    assert "contact1@example.com" not in dump and "+31 6 1234" not in dump
    assert "contact2@example.com" in dump
    assert ledger.conn.execute("SELECT value FROM answers ORDER BY question_id").fetchall() == [("[erased]",), (3,)]
    # still suppressed, by hash
    assert suppression_key("contact1@example.com") in ledger.suppressed()
    assert ledger.suppressions()[0]["address"] is None
    assert ledger.conn.execute("SELECT SUM(n) FROM answer_day_counts").fetchone() == (2,)


def test_one_invitation_by_its_id(ledger):
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(1)], run, NOW, "outbox", THROTTLED)
    got = ledger.invitation("inv-nps-1-2026-Q1")
    assert (got["survey_id"], got["state"], got["closes_at"]) == ("nps", "sending", NOW + timedelta(days=30))
    assert ledger.invitation("nope") is None


def test_opting_a_number_in_checks_it_as_opting_out_does(ledger):
    """A typo in `contacts optin NUMBER --channel sms` is an error, not "lifted 0 suppression(s)"."""
    from tierctl.errors import TierctlError
    from tierctl.surveys.suppressions import opt_in, opt_out

    assert opt_out(ledger, " +31612345678 ", None, "manual", None, NOW, channel="sms")
    for bad in ("", "0612345678", "+31 6 1234"):
        with pytest.raises(TierctlError, match="is not a phone number in E.164 form"):
            opt_in(ledger, bad, None, channel="sms")
    assert opt_in(ledger, "+31612345678 ", None, channel="sms") == 1


def test_the_moved_backend_helpers_still_import_from_the_ledger_module_with_a_warning():
    """A storage backend written before the SQL helpers moved to backend_sql keeps working."""
    import importlib

    import tierctl.storage.backend_sql as backend_sql

    ledger_module = importlib.import_module("tierctl.storage.ledger")
    with pytest.warns(DeprecationWarning, match="tierctl.storage.backend_sql.sql_states"):
        moved = ledger_module.sql_states
    assert moved is backend_sql.sql_states
    with pytest.raises(AttributeError):
        ledger_module.no_such_helper  # noqa: B018
