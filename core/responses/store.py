"""Responses: what one is, how its answers are checked, and how it is linked and stored.

Shared by the two ways responses come in: :mod:`tierctl.responses.csv_import`
(``tierctl survey import``, a CSV export from any survey tool) and
:mod:`tierctl.responses.collect` (``tierctl survey collect``, fetched from
the providers that can).

Every response is linked to its invitation, and so to its tier, account,
contact and occasion; the first response to an invitation is kept, later ones
are counted as duplicates. Answers are checked against the config's
questions: a score outside its scale rejects the whole response. After each
batch is stored, the ``response_received`` hook is called for every new
response, one plugin at a time, so a failing plugin is reported by name and
stops neither the import nor the other plugins.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from tierctl.errors import TierctlError
from tierctl.records import AnsweredInvitation, StoredResponse
from tierctl.storage.ledger import IMPORT_SOURCE, InvitationLink, InvitationRef, type_change
from tierctl.util.suggest import quoted

if TYPE_CHECKING:
    from tierctl.errors import Problem
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config, Survey
    from tierctl.host.plugin_host import PluginHost

#: Rows (or fetched responses) per batch: one transaction each. Big, because each transaction adds
#: its counts to the metrics rollup with one upsert per distinct (day, question, answer), and an
#: export spread over two years has ~50,000 of those in any batch: 1,000,000 rows took 5.8 s of
#: folding in batches of 50,000, 2.7 s in batches of 200,000.
BATCH_SIZE = 200_000
#: Problems kept in a result (all are passed to ``report``; the rest are only counted).
MAX_KEPT_PROBLEMS = 1000


# A StoredResponse from a tuple of all its fields, made in C: an import makes one per row.
_stored = partial(tuple.__new__, StoredResponse)


# -- answers -------------------------------------------------------------------------------------


class BadAnswer(ValueError):
    """An answer the question does not allow; the message names the question, value and what is allowed."""


def _scored(qid: str, qtype: str, lo: int, hi: int) -> Callable[[Any], int]:
    allowed = f"{qtype} answers are whole numbers from {lo} to {hi}"

    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise BadAnswer(f"{qid}: {value!r} is not a number; {allowed}")
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            text = str(value).strip()
            if text.count(",") == 1 and "." not in text:
                text = text.replace(",", ".")  # '4,0' from a spreadsheet with a decimal comma
            try:
                number = float(text)
            except ValueError:
                raise BadAnswer(f"{qid}: {quoted(value)} is not a number; {allowed}") from None
        if number != number or not number.is_integer():
            raise BadAnswer(f"{qid}: {quoted(value)} is not a whole number; {allowed}")
        if not lo <= number <= hi:
            raise BadAnswer(f"{qid}: {quoted(value)} is outside the scale {lo}-{hi}; {allowed}")
        return int(number)

    return check


def _choice_texts(choices: list[str]) -> dict[str, str]:
    """Each way a choice may come back -> the text stored for it: a choice written per language
    (``{en: Yes, nl: Ja}``) is answered in the respondent's language and kept in the default's."""
    out: dict[str, str] = {}
    for choice in choices:
        for text in (str(choice), *getattr(choice, "variants", {}).values()):
            out.setdefault(text, str(choice))
    return out


def _choice(qid: str, choices: list[str]) -> Callable[[Any], str]:
    exact = _choice_texts(choices)
    folded = {" ".join(c.split()).casefold(): stored for c, stored in exact.items()}

    def check(value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        found = exact.get(text) or folded.get(" ".join(text.split()).casefold())
        if found is None:
            from tierctl.util.suggest import did_you_mean

            raise BadAnswer(f"{qid}: {quoted(text)} is not one of the choices "
                            f"{', '.join(repr(c) for c in choices)}{did_you_mean(text, choices)}")
        return found

    return check


#: How a CSV cell (``survey import``) lists the ticked choices of a multiple_choice question.
MULTIPLE_SEPARATOR = ";"


def _multiple(qid: str, choices: list[str], lo: int | None, hi: int | None) -> Callable[[Any], str]:
    """A multiple_choice answer: a list (providers), ``a; b`` (a CSV cell) or the stored JSON list, each
    item one of ``choices``; stored as a JSON list of the choices' texts in the config's order."""
    one = _choice(qid, choices)
    order = {str(c): n for n, c in enumerate(choices)}

    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            items: list[Any] = []
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except (ValueError, RecursionError):  # RecursionError: a hostile '[[[[...' cell
                    items = []
            if not isinstance(items, list) or not items:
                items = [part.strip() for part in text.split(MULTIPLE_SEPARATOR) if part.strip()]
        elif isinstance(value, (list, tuple)):
            items = [v for v in value if v is not None and str(v).strip()]
        else:
            items = [value]
        picked = sorted({one(item if isinstance(item, str) else str(item)) for item in items}, key=order.__getitem__)
        if lo is not None and len(picked) < lo:
            raise BadAnswer(f"{qid}: {len(picked)} chosen; choose at least {lo}")
        if hi is not None and len(picked) > hi:
            raise BadAnswer(f"{qid}: {len(picked)} chosen; choose at most {hi}")
        return json.dumps(picked, ensure_ascii=False)

    return check


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)  # verbatim: '=SUM(A1)' is data, never a formula


class AnswerChecks:
    """The checks for one survey's questions: :meth:`check` turns raw answers into stored values."""

    def __init__(self, survey: "Survey"):
        self.types: dict[str, str] = {q.id: q.type for q in survey.questions}
        self.checks: dict[str, Callable[[Any], Any]] = {}
        #: Per scored or choice question, its valid answers as exported, already checked
        #: (``'9' -> 9``): an import looks each cell up here first and checks only the misses.
        self.exact: dict[str, dict[str, Any]] = {}
        #: Answer ids seen by :meth:`check` that are not questions of the survey (ignored).
        self.ignored: set[str] = set()
        for q in survey.questions:
            if q.bounds is not None:
                lo, hi = q.bounds
                self.checks[q.id] = _scored(q.id, q.type, lo, hi)
                self.exact[q.id] = {str(i): i for i in range(lo, hi + 1)}
            elif q.type == "choice":
                self.checks[q.id] = _choice(q.id, list(q.choices))
                self.exact[q.id] = _choice_texts(list(q.choices))
            elif q.type == "multiple_choice":
                self.checks[q.id] = _multiple(q.id, list(q.choices), q.min_choices, q.max_choices)
                self.exact[q.id] = {}  # checked cell by cell: imports must not take it for free text
            else:
                self.checks[q.id] = _text

    def check(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``(answers, problems)``: checked answers by question id, and why others were refused.

        Empty values (``None``, ``""``, blanks) are unanswered questions; ids
        that are not questions of the survey are ignored (and kept in :attr:`ignored`).
        """
        answers: dict[str, Any] = {}
        problems: list[str] = []
        for qid, value in raw.items():
            if value is None or (isinstance(value, str) and (not value or value.isspace())) \
                    or (isinstance(value, (list, tuple)) and not value):
                continue
            check = self.checks.get(qid)
            if check is None:
                self.ignored.add(qid)
                continue
            found = self.exact[qid].get(value) if qid in self.exact and isinstance(value, str) else None
            if found is not None:
                answers[qid] = found
                continue
            try:
                answers[qid] = check(value)
            except BadAnswer as exc:
                problems.append(str(exc))
        return answers, problems


# -- linking and storing -------------------------------------------------------------------------


#: How far a response's submitted_at may lie after now (clocks of survey tools and this machine
#: differ a little); later ones are bad rows.
MAX_CLOCK_SKEW = timedelta(minutes=15)


class Pending(NamedTuple):
    """A checked response waiting for its batch: where it came from, how to link it, its answers."""

    ref: Any  # a line number (imports) or the provider's response id (collect)
    invite_id: str | None
    email: str | None
    submitted_at: datetime | None
    answers: dict[str, Any]
    response_id: str | None  # known up front for fetched responses; 'import:<invite_id>' otherwise
    bad: str = ""  # why it cannot be stored, found before linking: reported in order with the rest


class ResponseStore:
    """Links batches of checked responses to invitations, stores them and calls the hook."""

    def __init__(self, ledger: "Ledger", host: "PluginHost | None", survey_id: str, source: str,
                 checks: AnswerChecks, now: datetime, problem: Callable[[Any, str], None],
                 hook_error: Callable[[str], None], as_of: datetime | None = None):
        self.ledger = ledger
        self.survey_id = survey_id
        self.source = source
        self.types = checks.types
        self.now = now
        # Responses submitted after this (and the clock skew) are bad: they cannot have been given yet.
        self.as_of = as_of or now
        self.latest = self.as_of + MAX_CLOCK_SKEW
        self.problem = problem
        self.hook_error = hook_error
        self.hooks = _hook_impls(host)

    def store(self, batch: list[Pending]) -> tuple[int, int]:
        """Store a batch; return ``(added, duplicates)`` (bad ones go to ``problem``)."""
        return self.save(self.link(batch))

    def link(self, batch: list[Pending]) -> list[StoredResponse]:
        """The batch's responses linked to their invitations, ready for :meth:`save`; the ones
        that cannot be stored go to ``problem``, in the batch's order. Only reads the ledger."""
        if not batch:
            return []
        ledger, survey_id = self.ledger, self.survey_id
        invite_ids = [p.invite_id for p in batch if p.invite_id and not p.bad]
        refs = ledger.answerable_invitations(survey_id, invite_ids)
        # Only the ids that cannot be linked are looked up in full, to say why.
        missed = ledger.lookup_invitations([i for i in invite_ids if i not in refs])
        emails = [p.email for p in batch if not p.invite_id and p.email and not p.bad]
        by_email = ledger.invitations_for_contacts(survey_id, emails) if emails else {}
        rows: list[StoredResponse] = []
        source, now, types = self.source, self.now, self.types
        latest = self.latest
        for p in batch:
            if p.bad:
                self.problem(p.ref, p.bad)
                continue
            if p.submitted_at is not None and p.submitted_at > latest:
                self.problem(p.ref, f"submitted_at {p.submitted_at.isoformat()} is in the future (now is "
                                    f"{self.as_of.isoformat(timespec='seconds')}); a response cannot have been given "
                                    "yet: check the column and its time zone")
                continue
            invite_id = p.invite_id
            if invite_id:
                inv = refs.get(invite_id)
                if inv is None:
                    self.problem(p.ref, _unlinked(invite_id, missed.get(invite_id), survey_id))
                    continue
            else:
                assert p.submitted_at is not None
                inv = _pick(by_email.get(p.email or ""), p.submitted_at)
                if inv is None:
                    self.problem(p.ref, f"no sent invitation of survey {survey_id!r} to {p.email!r}")
                    continue
                invite_id = inv.invite_id
            rows.append(_stored((p.response_id or f"{IMPORT_SOURCE}:{invite_id}", invite_id, survey_id,
                                 inv.tier, inv.due_day, p.submitted_at, source, p.answers, now, types,
                                 inv.key)))
        return ledger.prepare_responses(rows)

    def save(self, rows: list[StoredResponse]) -> tuple[int, int]:
        """Store linked responses (one transaction) and call the hook for the new ones;
        return ``(added, duplicates)``."""
        if not rows:
            return 0, 0
        added = self.ledger.add_responses(rows)
        if self.hooks and added:
            self._call_hooks(added)
        return len(added), len(rows) - len(added)

    def link_latest(self, invite_id: str, answers: dict[str, Any], submitted_at: datetime,
                    response_id: str) -> StoredResponse | None:
        """One checked response linked to its invitation, ready for
        :meth:`~tierctl.storage.ledger.Ledger.store_latest_responses` (the hosted form: a respondent may
        change answers; the latest counts, once); ``None`` (reported to ``problem``) when the
        invitation cannot take one. Call :meth:`stored` with what the ledger stored."""
        ref = self.ledger.answerable_invitations(self.survey_id, [invite_id]).get(invite_id)
        if ref is None:
            missed = self.ledger.lookup_invitations([invite_id]).get(invite_id)
            self.problem(invite_id, _unlinked(invite_id, missed, self.survey_id))
            return None
        return _stored((response_id, invite_id, self.survey_id, ref.tier, ref.due_day, submitted_at, self.source,
                        answers, self.now, self.types, ref.key))

    def stored(self, added: list[StoredResponse]) -> None:
        """Call the ``response_received`` hook for responses the ledger stored."""
        if self.hooks and added:
            self._call_hooks(added)

    def _call_hooks(self, added: list[StoredResponse]) -> None:
        links = self.ledger.lookup_invitations([r.invite_id for r in added])
        for response in added:
            inv = links[response.invite_id]
            invitation = AnsweredInvitation(inv.invite_id, inv.survey_id, inv.tier, inv.account_id,
                                            inv.contact_email, inv.occasion, inv.due_day)
            args = {"response": response, "invitation": invitation}
            for impl in self.hooks:
                try:
                    impl.function(*[args[name] for name in impl.argnames])
                except Exception as exc:  # one plugin must not stop the import or the others
                    self.hook_error(f"plugin {impl.plugin_name!r} failed in response_received for response "
                                    f"{response.response_id}: {type(exc).__name__}: {exc}")


def _unlinked(invite_id: str, link: InvitationLink | None, survey_id: str) -> str:
    """Why a response with this invite id cannot be stored (``link``: the invitation, if any)."""
    if link is None:
        return f"unknown invite_id {invite_id!r}: no invitation with this id in the ledger"
    if link.survey_id != survey_id:
        return f"invite_id {invite_id!r} is an invitation of survey {link.survey_id!r}, not {survey_id!r}"
    return f"invite_id {invite_id!r} was never sent (it is deferred by the throttle)"


def _hook_impls(host: "PluginHost | None") -> list[Any]:
    """The ``response_received`` implementations, in the order pluggy would call them."""
    if host is None:
        return []
    impls = host.pm.hook.response_received.get_hookimpls()
    return [impl for impl in reversed(impls)
            if not getattr(impl, "hookwrapper", False) and not getattr(impl, "wrapper", False)]


def _pick(candidates: list[InvitationRef] | None, submitted_at: datetime) -> InvitationRef | None:
    """The latest sent invitation due at or before the response, else the latest one."""
    if not candidates or len(candidates) == 1:
        return candidates[0] if candidates else None  # the only one, either way
    # due_at is fixed-width UTC text (see InvitationLink): compared as text, like time.
    at = submitted_at.astimezone(timezone.utc).isoformat(timespec="microseconds")
    before = [c for c in candidates if c.due_at <= at]
    return (before or candidates)[-1]


def question_type_changes(config: "Config", held: Mapping[str, Mapping[str, str]]) -> list["Problem"]:
    """The config's questions whose type differs from the one the ledger holds answers as
    (``held``: :meth:`tierctl.storage.ledger.Ledger.question_types`), each located in the config file.

    Such a question would be refused when its next answers are stored; ``tierctl validate`` says so
    before that, at the line that changed.
    """
    problems = []
    for survey_id, survey in config.surveys.items():
        types = held.get(survey_id, {})
        for i, question in enumerate(survey.questions):
            before = types.get(question.id)
            if before is not None and before != question.type:
                problems.append(config.problem(("surveys", survey_id, "questions", i, "type"),
                                               type_change(question.id, question.type, before)))
    return problems


def refuse_type_changes(config: "Config", ledger: "Ledger", survey_ids: list[str]) -> None:
    """Before storing answers to these surveys: a :class:`~tierctl.errors.ConfigError` at the
    config's line when one of their questions changed type after it was answered."""
    from tierctl.errors import ConfigError

    held = ledger.question_types()
    problems = question_type_changes(config, {sid: held[sid] for sid in survey_ids if sid in held})
    if problems:
        raise ConfigError(problems)


def survey_to_answer(config: "Config", survey_id: str) -> "Survey":
    """The survey responses are brought in for; a clear error for an unknown one or one without questions."""
    if survey_id not in config.surveys:
        from tierctl.util.suggest import did_you_mean, one_of

        raise TierctlError(f"no survey {survey_id!r}{did_you_mean(survey_id, config.surveys)}; "
                           f"surveys in {config.path or 'the config'}: {one_of(config.surveys)}")
    survey = config.surveys[survey_id]
    if not survey.questions:
        raise TierctlError(f"survey {survey_id!r} has no questions, so there are no answers to import; "
                           f"add questions to surveys.{survey_id}.questions")
    return survey


def as_utc(now: datetime | None) -> datetime:
    """``now`` in UTC, or the clock's time when it is None (``--now`` backfills pass one)."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
