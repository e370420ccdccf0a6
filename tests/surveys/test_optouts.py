"""Opt-outs hold: `tierctl contacts` and the scheduler skip a suppressed address for every survey and
provider, including invitations already deferred or waiting for a retry."""

from __future__ import annotations

import json
from pathlib import Path

from project_fixtures import EMPTY_ICS, PROJECT_YAML, run_cli, write_customers
from servers import HttpServer

NOW = "2026-11-23T08:00:00Z"


def project(tmp_path: Path, hook_url: str) -> Path:
    # product-feedback by mail (outbox), a yearly survey through the webhook provider: two providers.
    yaml = PROJECT_YAML.replace("    surveys: [product-feedback]\n", "    surveys: [product-feedback, yearly]\n", 1)
    yaml = yaml.replace("throttle: {per_contact: 30d}\n", "")
    yaml = yaml.replace("surveys:\n  pre-meeting:", f"""surveys:
  yearly:
    title: Yearly review
    trigger: {{every: year}}
    provider: hook
    questions: [{{id: score, type: csat, text: Happy?}}]
  pre-meeting:""")
    yaml = yaml.replace("providers:\n", f"providers:\n  hook: {{plugin: webhook, url: '{hook_url}/hook', secret: s3cret-0123456789abcdef, max_retries: 0}}\n")
    (tmp_path / "tierctl.yaml").write_text(yaml)
    write_customers(tmp_path / "customers.csv", [
        ["a1", "Acme", "starter", "active", "ann@acme.example", "Ann", "user", "en"],
        ["a1", "Acme", "starter", "active", "bob@acme.example", "Bob", "user", "en"],
    ])
    (tmp_path / "meetings.ics").write_text(EMPTY_ICS)
    return tmp_path / "tierctl.yaml"


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), *args], load_plugins=None)


def test_an_opt_out_holds_for_every_survey_and_provider(tmp_path: Path):
    with HttpServer() as hook:
        config = project(tmp_path, hook.url)
        code, out, err = cli(config, "contacts", "optout", "  ANN@acme.example", "--reason", "asked by phone")
        assert code == 0, err
        assert "opted out: ann@acme.example (all surveys)" in out
        code, out, _ = cli(config, "survey", "plan", "--now", NOW)
        assert "skipped   product-feedback   ann@acme.example                 opted out" in out
        assert "skipped   yearly             ann@acme.example                 opted out" in out
        assert "product-feedback: opted out" in out and "yearly: opted out" in out
        code, out, err = cli(config, "survey", "send", "--now", NOW)
        assert code == 0, err
        assert "skipped product-feedback ann@acme.example: opted out" in out
        sent_to = [json.loads(r.body)["contact"]["email"] for r in hook.requests]
        assert sent_to == ["bob@acme.example"]
        assert not any("ann@" in p.read_text() for p in (tmp_path / "outbox").glob("*.eml"))
        code, out, _ = cli(config, "survey", "status")
        assert "suppressions (opted out): 1 of all surveys" in out
        code, out, _ = cli(config, "contacts", "suppressions", "--json")
        rows = json.loads(out)
        assert [(r["address"], r["survey_id"], r["source"], r["reason"]) for r in rows] == [
            ("ann@acme.example", None, "manual", "asked by phone")]
        code, out, _ = cli(config, "contacts", "optin", "ann@acme.example")
        assert "lifted 1 suppression(s)" in out
        code, out, _ = cli(config, "survey", "plan", "--now", NOW)
        assert "opted out" not in out


def test_queued_invitations_are_never_sent_after_an_opt_out(tmp_path: Path):
    from tierctl.storage.opener import open_ledger

    with HttpServer() as hook:
        hook.default.status = 503  # the webhook fails temporarily: its invitations wait as 'retry'
        config = project(tmp_path, hook.url)
        code, _, _ = cli(config, "survey", "send", "--now", NOW)
        assert code == 1
        with open_ledger(None, tmp_path) as ledger:
            assert {r["contact_email"] for r in ledger.invitations(state="retry")} == {"ann@acme.example",
                                                                                       "bob@acme.example"}
        cli(config, "contacts", "optout", "ann@acme.example", "--survey", "yearly")
        hook.default.status = 200
        code, out, err = cli(config, "survey", "send", "--now", NOW)
        assert code == 0, err
        assert [json.loads(r.body)["contact"]["email"] for r in hook.requests if r.body][-1:] == ["bob@acme.example"]
        with open_ledger(None, tmp_path) as ledger:
            ann = [r for r in ledger.invitations(survey_id="yearly") if r["contact_email"] == "ann@acme.example"]
            assert [(r["state"], r["reason"]) for r in ann] == [("failed", "opted out")]


def test_bad_input_to_the_contacts_commands(tmp_path: Path):
    with HttpServer() as hook:
        config = project(tmp_path, hook.url)
        code, _, err = cli(config, "contacts", "optout", "not-an-address")
        assert code == 2 and "'not-an-address' is not an e-mail address" in err and "Traceback" not in err
        code, _, err = cli(config, "contacts", "optout", "a@b.example", "--survey", "yearli")
        assert code == 2 and "no survey 'yearli'" in err and "yearly" in err
        (tmp_path / "unsub.csv").write_text("Email Address,reason\nann@acme.example,unsubscribed\nnope,x\n"
                                            "ann@acme.example,again\n")
        code, out, err = cli(config, "contacts", "import-suppressions", str(tmp_path / "unsub.csv"))
        assert code == 1
        assert "1 new suppression(s), 1 already recorded, 1 bad row(s)" in out
        assert "unsub.csv:3: 'nope' is not an e-mail address" in err
        (tmp_path / "wrong.csv").write_text("name\nAnn\n")
        code, _, err = cli(config, "contacts", "import-suppressions", str(tmp_path / "wrong.csv"))
        assert code == 2 and "wrong.csv:1: no address column" in err


def test_a_storage_backend_written_before_text_opt_outs_keeps_working_for_e_mail(tmp_path: Path):
    """A third-party ledger whose add_suppression/remove_suppression predate the ``channel``
    parameter: e-mail opt-outs still work (with a DeprecationWarning saying what to add); an
    opt-out of a number is a clear error, not a TypeError."""
    from datetime import datetime, timezone

    import pytest

    from tierctl.errors import TierctlError
    from tierctl.storage.ledger_sqlite import SqliteLedger
    from tierctl.surveys.suppressions import opt_in, opt_out

    class OldLedger(SqliteLedger):
        def add_suppression(self, address, survey_id, source, reason, now):  # no channel
            return super().add_suppression(address, survey_id, source, reason, now)

        def remove_suppression(self, address, survey_id):
            return super().remove_suppression(address, survey_id)

    now = datetime(2027, 1, 4, tzinfo=timezone.utc)
    ledger = OldLedger(tmp_path / "state.db")
    try:
        with pytest.warns(DeprecationWarning, match="lack the 'channel' parameter"):
            assert opt_out(ledger, "Ann@Acme.example", None, "manual", None, now) is True
        assert [s["address"] for s in ledger.suppressions()] == ["ann@acme.example"]
        with pytest.raises(TierctlError, match="OldLedger keeps no opt-outs of sms numbers"):
            opt_out(ledger, "+31612345601", None, "manual", None, now, channel="sms")
        with pytest.warns(DeprecationWarning):
            assert opt_in(ledger, "ann@acme.example", None) == 1
    finally:
        ledger.close()
