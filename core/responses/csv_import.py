"""``tierctl survey import``: responses from a CSV export of any survey tool.

One row per response, columns ``invite_id`` (the id carried in the survey
link) or ``contact_email``, ``submitted_at`` and one column per question id.
The file is streamed in batches of :data:`~tierctl.responses.store.BATCH_SIZE`; a
bad row is reported with its line and skipped, the good rows are kept;
importing a file again adds nothing (the response id is
``import:<invite_id>``). Checking, linking and storing happen in
:mod:`tierctl.responses.store`, shared with ``survey collect``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from tierctl.errors import TierctlError
from tierctl.util.files import record_span_note, where_undecodable
from tierctl.util.suggest import quoted
from tierctl.storage.ledger import IMPORT_SOURCE
from tierctl.records import RowProblem, StoredResponse
from tierctl.responses.overlap import Writer
from tierctl.responses.store import (BATCH_SIZE, MAX_KEPT_PROBLEMS, AnswerChecks, BadAnswer, Pending, ResponseStore, as_utc,
                        refuse_type_changes, survey_to_answer)

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

EXAMPLE_TIME = "2026-11-24T10:15:00Z"

# A Pending from a tuple of all its fields, made in C: an import makes one per row.
_pending = partial(tuple.__new__, Pending)


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
        """0 when every row was stored (or was there already); 1 when rows were skipped as bad
        (listed) or a plugin hook failed: the good rows are stored either way."""
        return 1 if self.hook_errors or self.bad_rows else 0

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "added": self.added, "duplicates": self.duplicates, "bad_rows": self.bad_rows,
                "hook_errors": len(self.hook_errors)}


def parse_submitted_at(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 date or time; a time without zone is in ``tz``, a date alone is midnight there.

    :raises ValueError: not an ISO 8601 date or time.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def _zone(config: "Config") -> tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.organization.timezone)


# -- the file --------------------------------------------------------------------------------------

_LINK_COLUMNS = {"invite_id": ("invite_id", "inviteid", "invitation_id"),
                 "contact_email": ("contact_email", "email", "e_mail"),
                 "submitted_at": ("submitted_at", "submitted", "submitted_on")}


def _header_name(name: str) -> str:
    import re

    return re.sub(r"[\s-]+", "_", name.replace("\ufeff", "").strip().lower())


def _read_header(header: list[str] | None, shown: str, line: int, survey_id: str,
                 checks: AnswerChecks) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """``(link columns, question columns, warnings)`` of a response file's header."""
    from tierctl.util.suggest import did_you_mean

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
               progress: Callable[[int, int], None] | None = None, as_of: datetime | None = None) -> ImportResult:
    """Import a CSV export of responses to ``survey_id``; see the module docstring.

    :param report: called with each bad row (file, line, why) as it is found.
    :param progress: called after each batch with ``(bytes read, file size)``.
    :param as_of: responses submitted after this (beyond a small clock skew) are bad rows;
        default ``now`` (``now`` itself is when they were received).
    :raises tierctl.errors.TierctlError: an unknown survey, or a file that
        cannot be read at all (missing, empty, no usable header, wrong
        encoding); rows stored before an encoding error stay stored, and
        importing the fixed file again skips them.
    """
    import csv

    survey = survey_to_answer(config, survey_id)
    refuse_type_changes(config, ledger, [survey_id])
    checks = AnswerChecks(survey)
    tz = _zone(config)
    now = as_utc(now)
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

    store = ResponseStore(ledger, host, survey_id, IMPORT_SOURCE, checks, now, problem, result.hook_errors.append,
                          as_of=as_of)
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

    def store_batch(work: tuple[list[StoredResponse], int]) -> None:
        added, duplicates = store.save(work[0])
        result.added += added
        result.duplicates += duplicates
        if progress is not None:
            progress(work[1], size)

    writer = Writer(store_batch, overlapped=ledger.overlapped_writes)
    with handle, ledger.bulk_writes(), _collector_paused(), writer:
        size = path.stat().st_size
        raw_file = handle.buffer
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next((row for row in reader if row), None)
        except UnicodeDecodeError as exc:
            raise TierctlError(f"{where_undecodable(path, shown, encoding, reader.line_num + 1)}; "
                               f"{_encoding_hint(exc, encoding)}") from None
        except csv.Error as exc:
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
        batch: list[Pending] = []
        prev = reader.line_num

        def skip(line: int, message: str) -> None:
            batch.append(Pending(line, None, None, None, {}, None, message))

        # A batch is linked here (its problems reported in file order), then stored; on PostgreSQL
        # it is stored in the writer's thread while the next one is read and linked (see
        # tierctl.responses.overlap); a new list each time, as the writer still holds the last.
        def flush() -> None:
            nonlocal batch
            writer.submit((store.link(batch), raw_file.tell()))
            batch = []

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
                            skip(line, f"submitted_at {quoted(text)} is not an ISO 8601 date or time; expected e.g. "
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
                writer.wait()
                raise TierctlError(f"{where_undecodable(path, shown, encoding, prev + 1)}; "
                                   f"{_encoding_hint(exc, encoding)}. "
                                   f"{result.added} responses before it were stored; importing the fixed file "
                                   "again skips them") from None
        flush()
        writer.wait()
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
