"""Responses: bring survey answers in, check them against the questions, store each once.

Two ways in:

* :func:`import_csv` reads an export from any survey tool (``tierctl survey
  import``): one row per response, columns ``invite_id`` (the id carried in
  the survey link) or ``contact_email``, ``submitted_at`` and one column per
  question id. The file is streamed in batches; a bad row is reported with
  its line and skipped, the good rows are kept; importing a file again adds
  nothing (the response id is ``import:<invite_id>``).
* :func:`collect` asks every provider that can fetch responses for what is
  new since its stored cursor (``tierctl survey collect``).

Every response is linked to its invitation, and so to its tier, account,
contact and occasion; the first response to an invitation is kept, later ones
are counted as duplicates. Answers are checked against the config's
questions: a score outside its scale rejects the whole response. After each
batch is stored, the ``response_received`` hook is called for every new
response, one plugin at a time, so a failing plugin is reported by name and
stops neither the import nor the other plugins.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, NamedTuple

from .files import record_span_note
from .errors import TierctlError
from .ledger import IMPORT_SOURCE, InvitationLink, ResponseTarget
from .records import RawResponse, RowProblem

if TYPE_CHECKING:
    from .ledger import Ledger
    from .model import Config, Survey
    from .plugins_manager import PluginHost

log = logging.getLogger("tierctl.responses")

#: Rows (or fetched responses) per batch: one transaction each. Big, because each transaction adds
#: its counts to the metrics rollup with one upsert per distinct (day, question, answer), and an
#: export spread over two years has ~50,000 of those in any batch: 1,000,000 rows took 5.8 s of
#: folding in batches of 50,000, 2.7 s in batches of 200,000 (the import peaks at 480 MiB).
BATCH_SIZE = 200_000
#: Problems kept in a result (all are passed to ``report``; the rest are only counted).
MAX_KEPT_PROBLEMS = 1000
#: A provider that keeps returning new responses is asked at most this often per run.
MAX_PAGES = 10_000

EXAMPLE_TIME = "2026-11-24T10:15:00Z"


class StoredResponse(NamedTuple):
    """One response as the ledger stores it, linked to its invitation.

    ``response_id`` is ``<source>:<id at the source>``: ``import:<invite_id>``
    for imports, ``<provider instance>:<platform response id>`` for fetched
    ones. ``answers`` maps question ids to checked values: ``int`` for nps,
    csat, ces and rating questions, the declared label for a choice, the
    text as given for free text; unanswered questions are absent.
    ``question_types`` maps question ids to their type (shared by all
    responses of a survey). ``invitation`` is the ledger's key for the
    invitation (:attr:`tierctl.ledger.InvitationLink.key`); ``tier`` and
    ``due_day`` are the invitation's, the ones reports group by. The rest of
    the invitation (account, contact, occasion) is given to the
    ``response_received`` hook beside the response.

    Immutable, so that no plugin changes what the next one sees; the ledger
    makes millions of them in an import, which a tuple makes cheap.
    """

    response_id: str
    invite_id: str
    survey_id: str
    tier: str
    due_day: str
    submitted_at: datetime
    source: str
    answers: dict[str, Any]
    received_at: datetime | None = None
    question_types: Mapping[str, str] = MappingProxyType({})
    invitation: Any = None


# A StoredResponse from a tuple of all its fields, made in C: an import makes one per row.
_stored = partial(tuple.__new__, StoredResponse)


@dataclass
class ImportResult:
    """What an import did. ``problems`` keeps the first :data:`MAX_KEPT_PROBLEMS` bad rows."""

    added: int = 0
    duplicates: int = 0
    bad_rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    rows: int = 0
    warnings: list[str] = field(default_factory=list)
    hook_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when the good rows were stored (bad ones are listed); 1 when a plugin hook failed."""
        return 1 if self.hook_errors else 0

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "added": self.added, "duplicates": self.duplicates, "bad_rows": self.bad_rows,
                "hook_errors": len(self.hook_errors)}


@dataclass
class FetchResult:
    """What collecting one survey from one provider did."""

    provider: str
    survey_id: str
    cursor_before: str | None = None
    cursor_after: str | None = None
    calls: int = 0
    fetched: int = 0
    added: int = 0
    duplicates: int = 0
    bad: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "survey": self.survey_id, "calls": self.calls, "fetched": self.fetched,
                "added": self.added, "duplicates": self.duplicates, "bad": self.bad,
                "cursor_before": self.cursor_before, "cursor_after": self.cursor_after, "error": self.error}


@dataclass
class CollectResult:
    """What a collect did: one :class:`FetchResult` per (provider, survey), notes and errors."""

    fetches: list[FetchResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bad: int = 0
    hook_errors: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.fetches)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.fetches)

    @property
    def exit_code(self) -> int:
        """1 when a provider or a plugin hook failed, else 0 (bad responses are listed)."""
        return 1 if self.errors or self.hook_errors else 0

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "duplicates": self.duplicates, "bad": self.bad, "errors": len(self.errors),
                "hook_errors": len(self.hook_errors)}


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
                raise BadAnswer(f"{qid}: {str(value)!r} is not a number; {allowed}") from None
        if number != number or not number.is_integer():
            raise BadAnswer(f"{qid}: {str(value)!r} is not a whole number; {allowed}")
        if not lo <= number <= hi:
            raise BadAnswer(f"{qid}: {str(value)!r} is outside the scale {lo}-{hi}; {allowed}")
        return int(number)

    return check


def _choice(qid: str, choices: list[str]) -> Callable[[Any], str]:
    exact = {c: c for c in choices}
    folded = {" ".join(c.split()).casefold(): c for c in choices}

    def check(value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        found = exact.get(text) or folded.get(" ".join(text.split()).casefold())
        if found is None:
            from .suggest import did_you_mean

            raise BadAnswer(f"{qid}: {text!r} is not one of the choices "
                            f"{', '.join(repr(c) for c in choices)}{did_you_mean(text, choices)}")
        return found

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
                self.exact[q.id] = {c: c for c in q.choices}
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
            if value is None or (isinstance(value, str) and (not value or value.isspace())):
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


# -- time ----------------------------------------------------------------------------------------


def parse_submitted_at(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 date or time; a time without zone is in ``tz``, a date alone is midnight there.

    :raises ValueError: not an ISO 8601 date or time.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


# -- linking and storing -------------------------------------------------------------------------


class _Pending(NamedTuple):
    """A checked response waiting for its batch: where it came from, how to link it, its answers."""

    ref: Any  # a line number (imports) or the provider's response id (collect)
    invite_id: str | None
    email: str | None
    submitted_at: datetime | None
    answers: dict[str, Any]
    response_id: str | None  # known up front for fetched responses; 'import:<invite_id>' otherwise
    bad: str = ""  # why it cannot be stored, found before linking: reported in order with the rest


# A _Pending from a tuple of all its fields, made in C: an import makes one per row.
_pending = partial(tuple.__new__, _Pending)


class _Store:
    """Links batches of checked responses to invitations, stores them and calls the hook."""

    def __init__(self, ledger: "Ledger", host: "PluginHost | None", survey_id: str, source: str,
                 checks: AnswerChecks, now: datetime, problem: Callable[[Any, str], None],
                 hook_error: Callable[[str], None]):
        self.ledger = ledger
        self.survey_id = survey_id
        self.source = source
        self.types = checks.types
        self.now = now
        self.problem = problem
        self.hook_error = hook_error
        self.hooks = _hook_impls(host)

    def store(self, batch: list[_Pending]) -> tuple[int, int]:
        """Store a batch; return ``(added, duplicates)`` (bad ones go to ``problem``)."""
        if not batch:
            return 0, 0
        ledger, survey_id = self.ledger, self.survey_id
        invite_ids = [p.invite_id for p in batch if p.invite_id and not p.bad]
        targets: dict[str, ResponseTarget | InvitationLink] = ledger.response_targets(survey_id, invite_ids)
        # Only the ids that cannot be linked are looked up in full, to say why.
        missed = ledger.lookup_invitations([i for i in invite_ids if i not in targets])
        emails = [p.email for p in batch if not p.invite_id and p.email and not p.bad]
        by_email = ledger.invitations_for_contacts(survey_id, emails) if emails else {}
        rows: list[StoredResponse] = []
        source, now, types = self.source, self.now, self.types
        for p in batch:
            if p.bad:
                self.problem(p.ref, p.bad)
                continue
            invite_id = p.invite_id
            if invite_id:
                target = targets.get(invite_id)
                if target is None:
                    self.problem(p.ref, _unlinked(invite_id, missed.get(invite_id), survey_id))
                    continue
            else:
                assert p.submitted_at is not None
                target = _pick(by_email.get(p.email or ""), p.submitted_at)
                if target is None:
                    self.problem(p.ref, f"no sent invitation of survey {survey_id!r} to {p.email!r}")
                    continue
                invite_id = target.invite_id
            rows.append(_stored((p.response_id or f"{IMPORT_SOURCE}:{invite_id}", invite_id, survey_id,
                                 target.tier, target.due_day, p.submitted_at, source, p.answers, now, types,
                                 target.key)))
        added = ledger.add_responses(rows)
        if self.hooks and added:
            self._call_hooks(added)
        return len(added), len(rows) - len(added)

    def _call_hooks(self, added: list[StoredResponse]) -> None:
        links = self.ledger.lookup_invitations([r.invite_id for r in added])
        for response in added:
            inv = links[response.invite_id]
            invitation = {"invite_id": inv.invite_id, "survey_id": inv.survey_id, "tier": inv.tier,
                          "account_id": inv.account_id, "contact_email": inv.contact_email,
                          "occasion": inv.occasion, "due_day": inv.due_day}
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


def _pick(candidates: list[InvitationLink] | None, submitted_at: datetime) -> InvitationLink | None:
    """The latest sent invitation due at or before the response, else the latest one."""
    if not candidates or len(candidates) == 1:
        return candidates[0] if candidates else None  # the only one, either way
    # due_at is fixed-width UTC text (see InvitationLink): compared as text, like time.
    at = submitted_at.astimezone(timezone.utc).isoformat(timespec="microseconds")
    before = [c for c in candidates if c.due_at <= at]
    return (before or candidates)[-1]


def _survey(config: "Config", survey_id: str) -> "Survey":
    if survey_id not in config.surveys:
        from .suggest import did_you_mean, one_of

        raise TierctlError(f"no survey {survey_id!r}{did_you_mean(survey_id, config.surveys)}; "
                           f"surveys in {config.path or 'the config'}: {one_of(config.surveys)}")
    survey = config.surveys[survey_id]
    if not survey.questions:
        raise TierctlError(f"survey {survey_id!r} has no questions, so there are no answers to import; "
                           f"add questions to surveys.{survey_id}.questions")
    return survey


def _zone(config: "Config") -> tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.organization.timezone)


def _aware(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


# -- import --------------------------------------------------------------------------------------

_LINK_COLUMNS = {"invite_id": ("invite_id", "inviteid", "invitation_id"),
                 "contact_email": ("contact_email", "email", "e_mail"),
                 "submitted_at": ("submitted_at", "submitted", "submitted_on")}


def _header_name(name: str) -> str:
    import re

    return re.sub(r"[\s-]+", "_", name.replace("\ufeff", "").strip().lower())


def _read_header(header: list[str] | None, shown: str, line: int, survey_id: str,
                 checks: AnswerChecks) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """``(link columns, question columns, warnings)`` of a response file's header."""
    from .suggest import did_you_mean

    expected = f"invite_id (or contact_email), submitted_at, {', '.join(checks.types)}"
    if not header:
        raise TierctlError(f"{shown}: the file is empty; expected a header line: {expected}")
    aliases = {alias: column for column, names in _LINK_COLUMNS.items() for alias in names}
    questions = {qid.casefold(): qid for qid in checks.types}
    links: dict[str, int] = {}
    asked: dict[str, int] = {}
    unknown: list[str] = []
    doubled: list[str] = []
    for i, raw in enumerate(header):
        name = raw.replace("\ufeff", "").strip()
        if not name:
            continue
        qid = questions.get(name.casefold())
        column = aliases.get(_header_name(name)) if qid is None else None
        if qid is not None:
            if qid in asked:
                doubled.append(qid)
            asked.setdefault(qid, i)
        elif column is not None:
            if column in links:
                doubled.append(column)
            links.setdefault(column, i)
        else:
            unknown.append(name)
    if doubled:
        raise TierctlError(f"{shown}:{line}: column{'s' * (len(doubled) != 1)} {', '.join(sorted(set(doubled)))} "
                           f"appear{'s' * (len(doubled) == 1)} twice in the header; keep one")
    missing = []
    if "invite_id" not in links and "contact_email" not in links:
        missing.append("invite_id (or contact_email)")
    if "submitted_at" not in links:
        missing.append("submitted_at")
    if not asked:
        missing.append(f"a column for at least one question of survey {survey_id!r} ({', '.join(checks.types)})")
    if missing:
        hints = "".join(f"; {name!r}{did_you_mean(name, [*checks.types, *_LINK_COLUMNS]) or ' is not a column tierctl knows'}"
                        for name in unknown)
        raise TierctlError(f"{shown}:{line}: the header lacks {', '.join(missing)}; expected columns: {expected} "
                           f"(found: {','.join(h.strip() for h in header)}){hints}")
    warnings = []
    if unknown:
        notes = [f"{name!r}{did_you_mean(name.casefold(), [*checks.types, *_LINK_COLUMNS])}" for name in unknown]
        warnings.append(f"{shown}:{line}: column{'s' * (len(unknown) != 1)} {', '.join(notes)} "
                        f"{'are' if len(unknown) != 1 else 'is'} not a question of survey {survey_id!r} and "
                        f"{'are' if len(unknown) != 1 else 'is'} ignored; its questions are {', '.join(checks.types)}")
    return links, asked, warnings


def import_csv(config: "Config", ledger: "Ledger", host: "PluginHost | None", path: str | Path, survey_id: str,
               now: datetime | None = None, report: Callable[[RowProblem], None] | None = None, *,
               encoding: str = "utf-8-sig", delimiter: str = ",",
               progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Import a CSV export of responses to ``survey_id``; see the module docstring.

    :param report: called with each bad row (file, line, why) as it is found.
    :param progress: called after each batch with ``(bytes read, file size)``.
    :raises tierctl.errors.TierctlError: an unknown survey, or a file that
        cannot be read at all (missing, empty, no usable header, wrong
        encoding); rows stored before an encoding error stay stored, and
        importing the fixed file again skips them.
    """
    import csv

    survey = _survey(config, survey_id)
    checks = AnswerChecks(survey)
    tz = _zone(config)
    now = _aware(now)
    path = Path(path)
    shown = str(path)
    result = ImportResult()

    def problem(line: int, message: str) -> None:
        result.bad_rows += 1
        row_problem = RowProblem(shown, line, message)
        if len(result.problems) < MAX_KEPT_PROBLEMS:
            result.problems.append(row_problem)
        if report is not None:
            report(row_problem)

    store = _Store(ledger, host, survey_id, IMPORT_SOURCE, checks, now, problem, result.hook_errors.append)
    try:
        handle = open(path, newline="", encoding=encoding)
    except FileNotFoundError:
        raise TierctlError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise TierctlError(f"{shown}: is a folder, not a CSV file") from None
    except LookupError:
        raise TierctlError(f"unknown encoding {encoding!r}; use utf-8-sig, utf-8, cp1252 or latin-1") from None
    except OSError as exc:
        raise TierctlError(f"{shown}: cannot open the file: {exc.strerror or exc}") from None

    with handle, ledger.bulk_writes(), _collector_paused():
        size = path.stat().st_size
        raw_file = handle.buffer
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next((row for row in reader if row), None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise TierctlError(f"{shown}:{reader.line_num + 1}: cannot read the header: {exc}; "
                               f"{_encoding_hint(exc, encoding)}") from None
        links, asked, result.warnings = _read_header(header, shown, reader.line_num, survey_id, checks)
        assert header is not None
        width = len(header)
        i_invite, i_email, i_time = (links.get(c) for c in ("invite_id", "contact_email", "submitted_at"))
        assert i_time is not None
        columns = list(asked.items())
        last = max([i for i in (i_invite, i_email, i_time) if i is not None] + [i for _, i in columns])
        # Text is kept as given; other answers are looked up among the valid ones, then checked.
        checked_columns = [(qid, i, checks.exact[qid].get, checks.checks[qid])
                           for qid, i in columns if qid in checks.exact]
        text_columns = [(qid, i) for qid, i in columns if qid not in checks.exact]
        times: dict[str, datetime] = {}  # exports often share submission times
        batch: list[_Pending] = []
        prev = reader.line_num

        def skip(line: int, message: str) -> None:
            batch.append(_Pending(line, None, None, None, {}, None, message))

        # (Reading the next batch in a thread while this one is stored was tried: with the GIL
        # handed back and forth at every row SQLite steps, it was 10% slower, not faster.)
        def flush() -> None:
            added, duplicates = store.store(batch)
            result.added += added
            result.duplicates += duplicates
            batch.clear()
            if progress is not None:
                progress(raw_file.tell(), size)

        while True:
            try:
                for row in reader:
                    if len(batch) >= BATCH_SIZE:
                        flush()
                    line = prev + 1
                    prev = reader.line_num
                    if len(row) <= last:
                        if not row or (len(row) == 1 and not row[0].strip()):
                            continue  # a blank line
                        result.rows += 1
                        skip(line, f"has {len(row)} field{'s' * (len(row) != 1)}, the header has {width}: "
                                   f"too few columns{record_span_note(line, prev)}")
                        continue
                    result.rows += 1
                    invite_id = row[i_invite].strip() if i_invite is not None else ""
                    email = row[i_email].strip().lower() if i_email is not None and not invite_id else ""
                    if not invite_id and not email:
                        skip(line, "neither invite_id nor contact_email is filled in: the response cannot "
                                   "be linked to an invitation" if i_email is not None and i_invite is not None
                             else f"empty {'invite_id' if i_invite is not None else 'contact_email'}: the "
                                  f"response cannot be linked to an invitation")
                        continue
                    text = row[i_time]
                    submitted_at = times.get(text)
                    if submitted_at is None:
                        try:
                            submitted_at = parse_submitted_at(text, tz)
                        except ValueError:
                            skip(line, f"submitted_at {text!r} is not an ISO 8601 date or time; expected e.g. "
                                       f"{EXAMPLE_TIME} (without a zone: {config.organization.timezone})"
                                 if text.strip() else "submitted_at is empty")
                            continue
                        if len(times) < 100_000:
                            times[text] = submitted_at
                    answers: dict[str, Any] = {}
                    bad: list[str] = []
                    for qid, i, valid, check in checked_columns:
                        value = row[i]
                        found = valid(value)
                        if found is not None:
                            answers[qid] = found
                        elif value and not value.isspace():  # else not answered
                            try:
                                answers[qid] = check(value)
                            except BadAnswer as exc:
                                bad.append(f"column {exc}")
                    for qid, i in text_columns:
                        value = row[i]
                        if value and not value.isspace():
                            answers[qid] = value  # verbatim: '=SUM(A1)' is data, never a formula
                    if bad:
                        skip(line, "; ".join(bad))
                        continue
                    if not answers:
                        skip(line, "no answers: every question column is empty")
                        continue
                    batch.append(_pending((line, invite_id or None, email or None, submitted_at, answers, None, "")))
                break
            except csv.Error as exc:
                result.rows += 1
                skip(prev + 1, f"unreadable row: {exc}")
                prev = reader.line_num
            except UnicodeDecodeError as exc:
                flush()
                raise TierctlError(f"{shown}: near line {prev + 1}: {exc}; {_encoding_hint(exc, encoding)}. "
                                   f"{result.added} responses before it were stored; importing the fixed file "
                                   "again skips them") from None
        flush()
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block: an import makes millions of small objects
    (rows, answers, responses) and no cycles; with the collector on, its full passes over the
    batch held in memory took a fifth of the time of an import of 1,000,000 rows."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _encoding_hint(exc: Exception, encoding: str) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not {encoding}: save it as CSV UTF-8, or pass --encoding (e.g. cp1252)"
    return "check that the file is a CSV file"


# -- collect -------------------------------------------------------------------------------------


def collect(config: "Config", ledger: "Ledger", host: "PluginHost", since: datetime | None = None,
            now: datetime | None = None, survey: str | None = None,
            report: Callable[[str], None] | None = None) -> CollectResult:
    """Fetch new responses from every provider instance that can fetch them.

    For each survey and the provider instance it uses: an instance whose
    plugin cannot fetch (``can_fetch`` is false: smtp, outbox) is skipped
    with a note. Otherwise ``fetch_responses(survey_id, cursor)`` is called
    with the stored cursor, or with ``since`` as an ISO 8601 time when given
    (providers take a time as a cursor: "from then on"). The responses are
    linked (by ``invite_id``, else ``contact_email``), checked, stored, and
    only then is the returned cursor saved: a crash in between fetches the
    same responses again, which de-duplication by response id makes harmless.
    While a call brings responses not seen before in this run and a new
    cursor, the provider is asked again with that cursor (paging); a provider
    may as well return everything at once.

    Errors of one provider are reported naming it and do not stop the others.

    :param report: called with each bad response as it is found.
    """
    from .providers import ProviderError

    now = _aware(now)
    result = CollectResult()
    if survey is not None:
        _survey(config, survey)
    surveys = [(sid, s) for sid, s in config.surveys.items()
               if s.provider and (survey is None or sid == survey) and s.questions]
    fetchable: dict[str, list[str]] = {}
    for sid, s in surveys:
        entry = config.providers[s.provider]  # type: ignore[index]
        cls = host.providers[entry.plugin]
        if not getattr(cls, "can_fetch", False):
            note = (f"provider {s.provider} (plugin {entry.plugin}) cannot fetch responses; import them with "
                    f"tierctl survey import")
            if note not in result.notes:
                result.notes.append(note)
            continue
        fetchable.setdefault(s.provider, []).append(sid)  # type: ignore[arg-type]
    if not fetchable:
        return result

    from .instances import build_providers

    with ledger.lock("collect"):
        providers: dict[str, Any] = {}
        try:
            for name in sorted(fetchable):
                try:
                    providers.update(build_providers(config, host, {name}))
                except Exception as exc:
                    result.errors.append(f"provider {name} ({config.providers[name].plugin}) could not be set "
                                         f"up: {type(exc).__name__}: {exc}")
            for name, provider in providers.items():
                for sid in fetchable[name]:
                    fetch = FetchResult(name, sid)
                    result.fetches.append(fetch)
                    try:
                        _collect_one(config, ledger, host, provider, sid, since, now, fetch, result, report)
                    except ProviderError as exc:
                        fetch.error = str(exc)
                    except TierctlError:
                        raise  # the ledger failed: nothing else can be stored either
                    except Exception as exc:  # a provider bug: name it, go on with the others
                        fetch.error = (f"provider {name} ({provider.name}) failed while fetching responses to "
                                       f"{sid}: {type(exc).__name__}: {exc}")
                    if fetch.error:
                        result.errors.append(fetch.error)
                        log.error("%s", fetch.error)
        finally:
            for provider in providers.values():
                try:
                    provider.close()
                except Exception:
                    log.warning("provider %s did not close cleanly", provider.instance, exc_info=True)
    return result


def _collect_one(config: "Config", ledger: "Ledger", host: "PluginHost", provider: Any, survey_id: str,
                 since: datetime | None, now: datetime, fetch: FetchResult, result: CollectResult,
                 report: Callable[[str], None] | None) -> None:
    name = provider.instance
    checks = AnswerChecks(config.surveys[survey_id])

    def problem(ref: Any, message: str) -> None:
        text = f"provider {name}, survey {survey_id}, response {ref}: {message}"
        fetch.bad += 1
        result.bad += 1
        if len(result.problems) < MAX_KEPT_PROBLEMS:
            result.problems.append(text)
        if report is not None:
            report(text)

    store = _Store(ledger, host, survey_id, name, checks, now, problem, result.hook_errors.append)
    cursor = since.astimezone(timezone.utc).isoformat() if since is not None else ledger.get_cursor(name, survey_id)
    fetch.cursor_before = fetch.cursor_after = cursor
    try:
        _fetch_pages(ledger, provider, survey_id, cursor, now, fetch, store, checks, problem)
    finally:
        if checks.ignored:
            from .suggest import did_you_mean

            notes = ", ".join(f"{qid!r}{did_you_mean(qid, checks.types)}" for qid in sorted(checks.ignored))
            result.notes.append(f"provider {name}, survey {survey_id}: answers to {notes} are not questions of "
                                f"the survey and were ignored; its questions are {', '.join(checks.types)}")


def _fetch_pages(ledger: "Ledger", provider: Any, survey_id: str, cursor: str | None, now: datetime,
                 fetch: FetchResult, store: "_Store", checks: AnswerChecks,
                 problem: Callable[[Any, str], None]) -> None:
    """Call the provider page by page (see :func:`collect`), storing each page before saving its cursor."""
    name = provider.instance
    seen: set[str] = set()  # response ids met in this run: an overlap is not news
    for _ in range(MAX_PAGES):
        fetch.calls += 1
        items, new_cursor = provider.fetch_responses(survey_id, cursor)
        fresh = 0
        batch: list[_Pending] = []
        for raw in items:
            fetch.fetched += 1
            if raw.response_id in seen:
                continue
            seen.add(raw.response_id)
            fresh += 1
            pending = _pending_from_raw(raw, name, checks, problem)
            if pending is not None:
                batch.append(pending)
            if len(batch) >= BATCH_SIZE:
                _store_into(store, batch, fetch)
        _store_into(store, batch, fetch)
        # Only now, with the responses committed, may the cursor move on.
        if new_cursor is not None and new_cursor != cursor:
            ledger.set_cursor(name, survey_id, new_cursor, now)
            fetch.cursor_after = new_cursor
        if not fresh or new_cursor is None or new_cursor == cursor:
            return
        cursor = new_cursor


def _store_into(store: _Store, batch: list[_Pending], fetch: FetchResult) -> None:
    added, duplicates = store.store(batch)
    fetch.added += added
    fetch.duplicates += duplicates
    batch.clear()


def _pending_from_raw(raw: RawResponse, instance: str, checks: AnswerChecks,
                      problem: Callable[[Any, str], None]) -> _Pending | None:
    """A fetched response checked and ready to link, or ``None`` (reported) when it is unusable."""
    ref = raw.response_id
    if not raw.response_id:
        problem("(no id)", "the provider gave no response id; it cannot be de-duplicated")
        return None
    invite_id = (raw.invite_id or "").strip()
    email = (raw.contact_email or "").strip().lower()
    if not invite_id and not email:
        problem(ref, "carries neither an invite_id nor a contact e-mail: it cannot be linked to an invitation")
        return None
    submitted_at = raw.submitted_at
    if not isinstance(submitted_at, datetime) or submitted_at.tzinfo is None:
        problem(ref, f"submitted_at {submitted_at!r} is not a timezone-aware time (a provider bug)")
        return None
    answers, bad = checks.check(raw.answers or {})
    if bad:
        problem(ref, "; ".join(bad))
        return None
    if not answers:
        problem(ref, "no answers")
        return None
    return _Pending(ref, invite_id or None, email or None, submitted_at, answers, f"{instance}:{raw.response_id}")

