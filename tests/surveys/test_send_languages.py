"""``survey send`` end to end: each contact's invitation in their locale (de, nl-BE, en, fr)."""

from __future__ import annotations

import email
import email.policy

from project_fixtures import PROJECT_YAML, run_cli

YAML = (PROJECT_YAML
        .replace("organization: {name: Acme, timezone: Europe/Amsterdam}",
                 "organization: {name: Acme, timezone: Europe/Amsterdam, languages: [en, nl, de]}")
        .replace("title: Quarterly product feedback",
                 "title: {en: Quarterly product feedback, nl: Kwartaalfeedback, de: Quartalsumfrage}")
        .replace("text: Would you recommend us?",
                 "text: {en: Would you recommend us?, nl: Zou je ons aanbevelen?, de: Würden Sie uns empfehlen?}"))


def test_each_contact_gets_the_invitation_in_their_language(project, tmp_path) -> None:
    rows = [["A1", "Noordwind Logistiek N.V.", "free", "active", f"{who}@noordwind.example", name, "user", locale]
            for who, name, locale in (("hans", "Hans Müller", "de"), ("an", "An Peeters", "nl-BE"),
                                      ("kim", "Kim Lee", "en"), ("eloise", "Éloïse Roux", "fr-FR"))]
    config = project(rows, yaml=YAML)
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--now", "2027-01-04T08:00:00Z"], load_plugins=None)
    assert code == 0, err
    messages = {}
    for path in (tmp_path / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages[msg["To"].addresses[0].addr_spec.split("@")[0]] = msg
    assert set(messages) == {"hans", "an", "kim", "eloise"}

    def body(who: str) -> str:
        return messages[who].get_body(("plain",)).get_content()

    assert messages["hans"]["Subject"] == "Quartalsumfrage"
    assert body("hans").startswith("Hallo Hans,")
    assert "Die Befragung läuft bis Mittwoch, 31. März 2027." in body("hans")  # the quarter ends 31 March
    assert messages["an"]["Subject"] == "Kwartaalfeedback"
    assert "De vragenlijst staat open tot en met woensdag 31 maart 2027." in body("an")
    assert "Noordwind Logistiek N.V. Je antwoorden" in body("an") and "N.V.." not in body("an")
    assert "The survey is open until Wednesday, March 31, 2027." in body("kim")
    # No French text in tierctl or the config: the organisation's default language (en).
    assert messages["eloise"]["Subject"] == "Quarterly product feedback" and body("eloise").startswith("Hello")
