"""The survey form: questions as form fields, and a submission checked the way imports are.

:func:`fields` turns a survey's questions into what the template draws (a
fieldset per question, its options, the value typed so far and its error);
:func:`read_answers` checks a submission with the same
:class:`~tierctl.responses.store.AnswerChecks` as ``survey import`` and
``collect`` (the same messages), plus the form's own rule: a required
question must be answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import json

from tierctl.responses.store import AnswerChecks
from tierctl.storage.ledger import picked_choices
from tierctl.i18n import N_, _
from tierctl.i18n.text import in_language

if TYPE_CHECKING:
    from tierctl.config.model import Survey

#: Longest free-text answer kept (characters); the browser stops there too (maxlength).
MAX_TEXT = 4000

# Anchors of the scales, as the usual wording of each metric.
_ANCHORS = {
    "nps": (N_("Not at all likely"), N_("Extremely likely")),
    "csat": (N_("Very dissatisfied"), N_("Very satisfied")),
    "ces": (N_("Very difficult"), N_("Very easy")),
}


@dataclass
class Field:
    """One question as the template draws it."""

    id: str
    type: str
    text: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    anchors: tuple[str, str] | None = None
    value: str = ""
    error: str = ""
    selected: tuple[str, ...] = ()  # multiple_choice: the ticked choices
    hint: str = ""  # multiple_choice: how many to tick

    @property
    def scale(self) -> bool:
        return self.type not in ("choice", "multiple_choice", "text")


def fields(survey: "Survey", values: Mapping[str, str] | None = None,
           errors: Mapping[str, str] | None = None, language: str | None = None,
           default: str | None = None) -> list[Field]:
    """The survey's questions as form fields, with what was typed (``values``) and ``errors``; texts
    and choice labels in ``language`` (``default`` when the config has no text in it). A choice's
    value stays the text as the config first gives it: that is what is stored."""
    values = values or {}
    errors = errors or {}
    out = []
    for q in survey.questions:
        f = Field(q.id, q.type, in_language(q.text, language, default), q.required, value=values.get(q.id, ""),
                  error=errors.get(q.id, ""))
        if q.bounds is not None:
            lo, hi = q.bounds
            f.options = [(str(i), str(i)) for i in range(lo, hi + 1)]
            f.anchors = _ANCHORS.get(q.type)  # translated by the template, in the page's language
        elif q.type in ("choice", "multiple_choice"):
            f.options = [(str(c), in_language(c, language, default)) for c in q.choices]
        if q.type == "multiple_choice":
            f.selected = tuple(picked_choices(f.value))
            lo, hi = q.min_choices or 1, q.max_choices or len(q.choices)
            f.hint = _("Choose all that apply.") if (lo, hi) == (1, len(q.choices)) else \
                _("Choose %(low)s to %(high)s.") % {"low": lo, "high": hi}
        out.append(f)
    return out


def read_answers(survey: "Survey", form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``(answers, errors, typed)`` from a submitted form.

    ``answers`` are checked values by question id; ``errors`` map a question
    id to its message; ``typed`` is what was sent, to show again when the
    submission is refused.
    """
    typed: dict[str, str] = {}
    raw: dict[str, Any] = {}
    for q in survey.questions:
        value = form.get(q.id)
        if q.type == "multiple_choice":  # a checkbox group: every ticked box under one name
            ticked = [v[:200] for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
            if ticked:
                raw[q.id] = ticked[:len(q.choices) + 1]
                typed[q.id] = json.dumps(raw[q.id], ensure_ascii=False)
            continue
        if isinstance(value, list):  # a field sent twice: the last one counts
            value = value[-1] if value else None
        if isinstance(value, str):
            typed[q.id] = value[:MAX_TEXT] if q.type == "text" else value[:200]
            raw[q.id] = typed[q.id] if q.type == "text" else typed[q.id].strip()
    checks = AnswerChecks(survey)
    answers, problems = checks.check(raw)
    errors: dict[str, str] = {}
    for problem in problems:  # AnswerChecks says "<question id>: <what is wrong>"
        qid, _sep, message = problem.partition(": ")
        errors[qid] = message
    for q in survey.questions:
        if q.required and q.id not in answers and q.id not in errors:
            errors[q.id] = _("Please answer this question.")
    if not answers and not errors:
        first = survey.questions[0].id if survey.questions else ""
        errors[first] = _("Please answer at least one question.")
    return answers, errors, typed
