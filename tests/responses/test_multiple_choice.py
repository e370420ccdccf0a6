"""multiple_choice questions: the config, the checks (every way an answer comes in), a CSV import
with ``;`` between ticked choices, and the report's count per choice."""

from __future__ import annotations

import json

import pytest

from project_fixtures import PROJECT_YAML, run_cli
from test_responses import SEND_AT, contacts, invoke, sent, stored, write_csv

from tierctl.config.model import Question, Survey
from tierctl.responses.store import AnswerChecks

AREAS = ["Speed", "Price", "Support, 24/7"]
YAML = PROJECT_YAML.replace("""    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
""", """    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
      - {id: areas, type: multiple_choice, text: What matters to you?, max_choices: 2,
         choices: [Speed, Price, "Support, 24/7"]}
""")


def checks(**question) -> AnswerChecks:
    q = {"id": "areas", "type": "multiple_choice", "text": "What matters?", "choices": AREAS, **question}
    return AnswerChecks(Survey.model_validate({"title": "t", "trigger": {"every": "year"}, "provider": "p",
                                               "questions": [q]}))


def test_every_way_a_multiple_choice_answer_comes_in_is_stored_as_one_json_list_in_config_order():
    c = checks()
    for raw in (["Price", "Speed"], "price; speed", "Speed;Price;", '["Price", "Speed"]', ("Speed", "Price", "Speed")):
        assert c.check({"areas": raw}) == ({"areas": '["Speed", "Price"]'}, []), raw
    assert c.check({"areas": "Support, 24/7"}) == ({"areas": '["Support, 24/7"]'}, [])  # a comma is no separator
    assert c.check({"areas": []}) == ({}, []) and c.check({"areas": " "}) == ({}, [])  # unanswered
    answers, problems = c.check({"areas": ["Speed", "Colour"]})
    assert answers == {} and problems == ["areas: 'Colour' is not one of the choices 'Speed', 'Price', "
                                          "'Support, 24/7'"]


def test_min_and_max_choices_are_checked_and_configured_sensibly():
    c = checks(min_choices=2, max_choices=2)
    assert c.check({"areas": "Speed"})[1] == ["areas: 1 chosen; choose at least 2"]
    assert c.check({"areas": AREAS})[1] == ["areas: 3 chosen; choose at most 2"]
    assert c.check({"areas": ["Price", "Speed"]})[1] == []
    with pytest.raises(ValueError, match="min_choices <= max_choices <= 3"):
        Question.model_validate({"id": "a", "type": "multiple_choice", "text": "t", "choices": AREAS,
                                 "min_choices": 3, "max_choices": 2})
    with pytest.raises(ValueError, match="min_choices and max_choices are for type multiple_choice"):
        Question.model_validate({"id": "a", "type": "choice", "text": "t", "choices": AREAS, "max_choices": 1})
    with pytest.raises(ValueError, match="a multiple_choice question needs choices"):
        Question.model_validate({"id": "a", "type": "multiple_choice", "text": "t"})


def test_a_csv_import_lists_ticked_choices_with_semicolons_and_the_report_counts_each(project, tmp_path):
    config = project(contacts(4), yaml=YAML)
    code, out, err = invoke(config, "send", "--now", SEND_AT)
    assert code == 0, out + err
    ids = sent(config)
    p = [ids[f"p{n}@acc{n}.example"] for n in range(4)]
    path = write_csv(tmp_path / "export.csv", [
        [p[0], "2027-01-05T10:00:00Z", "9", "Speed; Support, 24/7"],
        [p[1], "2027-01-05T11:00:00Z", "7", "price"],
        [p[2], "2027-01-05T12:00:00Z", "3", "Speed;Price;Support, 24/7"],  # over max_choices: a bad row
        [p[3], "2027-01-05T13:00:00Z", "8", "Speed; Colour"],  # not a choice: a bad row
    ], header=["invite_id", "submitted_at", "nps", "areas"])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1, out + err
    assert "2 added" in out and "2 bad rows" in out
    assert "export.csv:4: column areas: 3 chosen; choose at most 2" in err
    assert "export.csv:5: column areas: 'Colour' is not one of the choices" in err
    assert stored(config)[p[0]]["answers"]["areas"] == ("multiple_choice", None, '["Speed", "Support, 24/7"]')
    code, out, err = run_cli(["-c", str(config), "report", "--format", "json"], load_plugins=None)
    assert code == 0, err
    report = json.loads(out)
    [figures] = [q for s in report["surveys"] for t in s["tiers"] for per in t["periods"] for q in per["questions"]
                 if q["id"] == "areas" and q["answers"]]
    assert figures["answers"] == 2  # answers to the question, not ticks
    assert figures["distribution"] == [{"value": "Speed", "count": 1}, {"value": "Price", "count": 1},
                                       {"value": "Support, 24/7", "count": 1}]
    code, out, err = run_cli(["-c", str(config), "report", "--format", "md"], load_plugins=None)
    assert code == 0 and "Speed: 1 · Price: 1 · Support, 24/7: 1 (2 answers)" in out, out


def test_providers_hand_multi_select_answers_over_as_lists_the_checks_store():
    """Typeform's ``choices`` answer (a multiple-selection field), SurveyMonkey's several answers to
    one multiple_choice question and Qualtrics' label list all become the stored JSON list."""
    from tierctl.plugins.provider_typeform import answer_value

    typeform = answer_value({"type": "choices", "choices": {"labels": ["Price", "Speed"]}})
    assert typeform == ["Price", "Speed"]
    with_other = answer_value({"type": "choices", "choices": {"labels": ["Speed"], "other": "Support, 24/7"}})
    assert checks().check({"areas": typeform}) == ({"areas": '["Speed", "Price"]'}, [])
    assert checks().check({"areas": with_other}) == ({"areas": '["Speed", "Support, 24/7"]'}, [])
    assert answer_value({"type": "choice", "choice": {"label": "Price"}}) == "Price"  # single choice unchanged


def test_a_deeply_nested_json_cell_is_a_bad_answer_not_a_crash():
    """A hostile cell of ``[`` x 100000 made json.loads raise RecursionError (a traceback)."""
    answers, problems = checks().check({"areas": "[" * 100_000})
    assert answers == {} and len(problems) == 1 and "is not one of the choices" in problems[0]
