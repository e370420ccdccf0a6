"""Config text in several languages, organization.languages, and what validate warns about."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from project_fixtures import run_cli
from tierctl.config.loader import load_config
from tierctl.errors import ConfigError

CONFIG = """\
    version: 1
    organization:
      name: Noordwind
      languages: [nl, en, de]
    tiers:
      basis:
        name: {nl: Basis, en: Basic, de: Basis}
        summary: {nl: Snelle antwoorden, en: Quick answers}
        touch_model: tech-touch
        plans: [free]
        price: {nl: Gratis, en: Free, de: Kostenlos}
      zakelijk:
        extends: basis
        name: Zakelijk
        touch_model: high-touch
        plans: [pro]
    surveys:
      feedback:
        title: {nl: Feedback, en: Feedback, de: Feedback}
        questions:
          - {id: nps, type: nps, text: {nl: Hoe waarschijnlijk?, de: Wie wahrscheinlich?}}
    """


def _write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "tierctl.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_texts_read_in_the_default_language_and_keep_every_variant(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path))
    assert config.organization.language == "nl" and config.organization.languages == ["nl", "en", "de"]
    assert config.tiers["basis"].name == "Basis" and config.tiers["basis"].price.variants["en"] == "Free"
    # A question without an nl text would read in its first written language.
    assert config.surveys["feedback"].questions[0].text == "Hoe waarschijnlijk?"


def test_validate_names_each_missing_translation_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path)
    code, out, err = run_cli(["-c", str(path), "validate"])
    assert code == 0, err
    lines = err.splitlines()
    summary = [line for line in lines if "tiers.basis.summary" in line]
    assert summary == [f"{path}:8:5: tiers.basis.summary: warning: no de text (written in nl, en); readers of it "
                       "get the nl text; add de: ..."]
    question = [line for line in lines if "questions[0].text" in line]
    assert len(question) == 1 and question[0].startswith(f"{path}:21:") and "no en text" in question[0]
    # Written without the default language (nl): readers get the first language it is written in.
    code, out, err = run_cli(["-c", str(_write(tmp_path, CONFIG.replace("name: {nl: Basis, en: Basic, de: Basis}",
                                                                        "name: {en: Basic}"))), "validate"])
    [name] = [line for line in err.splitlines() if "tiers.basis.name" in line]
    assert name.endswith("warning: no nl, de text (written in en); these readers get the en text; add nl: ..., de: ...")
    # zakelijk inherits basis's summary: reported once, where it is written.
    assert not any("tiers.zakelijk.summary" in line for line in lines)
    code, out, err = run_cli(["-c", str(path), "validate", "--json"])
    warnings = json.loads(out)["warnings"]
    assert {(w["key"], w["line"]) for w in warnings} >= {("tiers.basis.summary", 8),
                                                        ("surveys.feedback.questions[0].text", 21)}


def test_validate_warns_on_a_price_inherited_across_touch_models(tmp_path: Path) -> None:
    path = _write(tmp_path)
    code, _out, err = run_cli(["-c", str(path), "validate"])
    price = [line for line in err.splitlines() if "price is inherited" in line]
    assert price == [f"{path}:13:5: tiers.zakelijk.extends: warning: price is inherited from tier 'basis' "
                     "(tech-touch), but 'zakelijk' is high-touch; write its own price, or add price to "
                     "tiers.zakelijk.inherit_ok to keep it"]
    # Silenced per field.
    path = _write(tmp_path, CONFIG.replace("        plans: [pro]", "        plans: [pro]\n        inherit_ok: [price]"))
    code, _out, err = run_cli(["-c", str(path), "validate"])
    assert code == 0 and "price is inherited" not in err
    # The same touch model: nothing to say.
    path = _write(tmp_path, CONFIG.replace("touch_model: high-touch", "touch_model: tech-touch"))
    assert "price is inherited" not in run_cli(["-c", str(path), "validate"])[2]


@pytest.mark.parametrize("change, message", [
    ("languages: [nl, en, de]", None),
    ("languages: [nl, en, de]\n      language: en", "language 'en' must be the first of languages"),
    ("languages: [nl, english]", "'english' is not a language code"),
    ("languages: [nl, nl]", "lists a language twice"),
])
def test_language_settings_are_checked(tmp_path: Path, change: str, message: str | None) -> None:
    text = CONFIG.replace("languages: [nl, en, de]", change)
    if message is None:
        load_config(_write(tmp_path, text))
        return
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))
    assert message in str(caught.value) and "tierctl.yaml:" in str(caught.value)


def test_a_text_mapping_needs_language_codes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, CONFIG.replace("{nl: Basis, en: Basic, de: Basis}", "{dutch: Basis}")))
    assert "tiers.basis.name" in str(caught.value) and "'dutch' is not a language code" in str(caught.value)


def test_a_choice_answered_in_any_of_its_languages_is_kept_in_the_default(tmp_path: Path) -> None:
    from tierctl.responses.store import AnswerChecks

    text = CONFIG.replace("          - {id: nps, type: nps, text: {nl: Hoe waarschijnlijk?, de: Wie wahrscheinlich?}}",
                          "          - {id: plan, type: choice, text: Welk pakket?, "
                          "choices: [{nl: Basis, en: Basic, de: Basis}, {nl: Groot, en: Large, de: Groß}]}")
    config = load_config(_write(tmp_path, text))
    checks = AnswerChecks(config.surveys["feedback"])
    answers, problems = checks.check({"plan": "Large"})
    assert (answers, problems) == ({"plan": "Groot"}, [])
    assert checks.check({"plan": "groß"})[0] == {"plan": "Groot"}
    answers, problems = checks.check({"plan": "Huge"})
    assert answers == {} and "not one of the choices" in problems[0]
