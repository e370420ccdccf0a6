"""The ``csv`` customer source: one row per contact, as exported from a CRM or Excel.

Configure it under ``sources:``::

    sources:
      customers: {plugin: csv, path: customers.csv}   # relative to the config file

Columns (header names are matched case-insensitively, surrounding spaces
ignored, extra columns ignored)::

    account_id, account_name, plan, status, contact_email, contact_name, role, locale

The file is streamed, never loaded whole: a million rows take a few seconds.
A bad row is reported (file, physical line, why) and skipped; the other rows
are kept. A missing file or a header without the required columns is an
error, because then nothing can be read.

Optional columns, for contact moments and SMS/WhatsApp (``tierctl touchpoints``)::

    phone, sms_opt_in, whatsapp_opt_in, timezone, owner, status_since

``phone`` is an international (E.164) number such as ``+31612345678``,
checked with the ``phonenumbers`` library; ``sms_opt_in`` and
``whatsapp_opt_in`` are yes/no (``yes, no, true, false, 1, 0``, empty is no);
``timezone`` an IANA name (empty: the organisation's); ``owner`` the account
manager's e-mail address; ``status_since`` the ISO date the account's status
began. A bad value makes the row a bad row, reported with its line.

Empty values: ``account_id``, ``plan``, ``status`` and ``contact_email`` are
required. An empty ``account_name`` falls back to the account id, an empty
``locale`` to ``organization.language``; ``contact_name`` and ``role`` may be
empty.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from tierctl.util.files import record_span_note, where_undecodable
from tierctl.util.suggest import quoted
from tierctl.errors import TierctlError
from tierctl.hookspecs import hookimpl
from tierctl.records import Contact, RowProblem
from tierctl.sources import CustomerSource, Report, SourceOptions, SourceSplit

if TYPE_CHECKING:
    from tierctl.plugins.source_csv_split import Part

#: What :meth:`CsvCustomers._read` yields where a part's head ends (see source_csv_split).
PAUSE = object()

COLUMNS = ("account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role", "locale")
EXPECTED_HEADER = ",".join(COLUMNS)
OPTIONAL_COLUMNS = ("phone", "sms_opt_in", "whatsapp_opt_in", "timezone", "owner", "status_since")
_YES = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False,
        "": False}

# Pragmatic, not RFC 5322 (and cheap, it runs on every row): one @, no spaces
# or list separators before it, a dotted domain of letters, digits and '-'.
EMAIL_RE = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[\w-]+(?:\.[\w-]+)+")
# The same, in its two halves: a row's address is checked as a local part and a domain
# (EMAIL_RE matches exactly when both do), so that the domain, which the rows of one
# account share, is matched once per run of rows, and a local part of letters and
# digits needs no match at all (a regex match per row is a fifth of reading a row).
LOCAL_RE = re.compile(r"[^\s@<>()\[\],;:\"\\]+")
DOMAIN_RE = re.compile(r"[\w-]+(?:\.[\w-]+)+")


class CsvOptions(SourceOptions):
    """Options of the ``csv`` source."""

    path: str
    delimiter: str = ","
    encoding: str = "utf-8-sig"


class CsvCustomers(CustomerSource):
    """Contacts from a CSV file, one row per contact."""

    name = "csv"
    description = "Contacts from a CSV file (account_id, account_name, plan, status, contact_email, ...)"
    Options = CsvOptions
    input_files = ("path",)
    unique_emails = True  # a second row of an address is reported as a duplicate and skipped

    @property
    def path(self) -> Path:
        return Path(self.base_dir) / self.options.path

    #: A file at least this big is offered to a plan in two parts (:meth:`split`): below it, a
    #: second process costs more than it saves.
    min_split_bytes = 16 << 20

    #: Split a line without a quote here instead of by the csv module (twice as fast; the same
    #: rows, which the tests check by reading files both ways).
    split_plain_lines = True

    def contacts(self, report: Report) -> Iterator[Contact]:
        return self._read(report)  # type: ignore[return-value]  (no part: no PAUSE)

    def split(self, report: Report) -> SourceSplit | None:
        """The file in two parts at a line break near its middle (see :class:`SourceSplit`)."""
        from tierctl.plugins.source_csv_split import split_csv

        return split_csv(self, report)

    def _read(self, report: Report, part: "Part | None" = None) -> Iterator[Contact | object]:
        """The contacts, or with ``part`` those of one part of the file (see source_csv_split)."""
        import csv

        from tierctl.config.model import STATUSES
        from tierctl.util.suggest import did_you_mean, one_of

        path = self.path
        shown = self.options.path  # as the user wrote it in the config
        if len(self.options.delimiter) != 1:
            raise TierctlError(f"{shown}: delimiter must be one character, got {self.options.delimiter!r}; "
                               "set sources.customers.delimiter to ',' or ';' or '\\t'")
        plan_tier = {plan: tier_id for tier_id, tier in self.config.tiers.items() for plan in tier.plans}
        # Lenient look-ups for values that differ only in case or spaces.
        plan_folded = {plan.strip().lower(): plan for plan in plan_tier}
        statuses = frozenset(STATUSES)
        default_locale = self.config.organization.language
        known_plans = one_of(plan_tier)
        # (column, bad value) -> message, so "did you mean" runs once per distinct value
        hints: dict[tuple[str, str], str] = {}
        email_match = EMAIL_RE.fullmatch
        local_match, domain_match = LOCAL_RE.fullmatch, DOMAIN_RE.fullmatch
        last_domain, domain_ok = None, False
        # e-mail -> its first line. A bare int, not (line, account): a million tuples cost time and
        # ~60 MiB. The rare duplicate finds the first row's account among the account runs below.
        first_line: dict[str, int] = {}
        run_starts: list[int] = []  # the line where each run of rows of one account starts
        run_accounts: list[str] = []  # ... and that account
        run_account = None

        try:
            handle = open(path, newline="", encoding=self.options.encoding)
        except FileNotFoundError:
            raise TierctlError(f"{shown}: customer file not found (looked for {path}); sources.customers.path "
                               "is relative to the config file's folder") from None
        except LookupError:
            raise TierctlError(f"{shown}: unknown encoding {self.options.encoding!r} in sources.customers."
                               "encoding; use utf-8-sig, utf-8, cp1252 or latin-1") from None
        except OSError as exc:
            raise TierctlError(f"{shown}: cannot open the customer file: {exc.strerror or exc}") from None

        with handle:
            reader = csv.reader(handle, delimiter=self.options.delimiter)
            try:
                header = next((row for row in reader if row), None)
            except UnicodeDecodeError as exc:
                raise TierctlError(f"{where_undecodable(path, shown, self.options.encoding, reader.line_num + 1)}; "
                                   f"{_encoding_hint(exc, self.options.encoding)}") from None
            except csv.Error as exc:
                raise TierctlError(f"{shown}:{reader.line_num + 1}: cannot read the header: {exc}; "
                                   f"{_encoding_hint(exc, self.options.encoding)}") from None
            index = _column_index(header, shown, reader.line_num)
            extras = _optional_columns(header, email_match)
            width = len(header)
            i_acc, i_name, i_plan, i_status, i_email, i_cname, i_role, i_locale = (index[c] for c in COLUMNS)
            last = max(index.values())
            stop = sys.maxsize  # pause at the first record boundary at or after this line
            lines: Iterator[str] = handle  # the header's reader read no further than the header
            prev = reader.line_num  # lines consumed so far; a record starts on the next one
            if part is not None:
                first_line = part.first_line
                stop = part.stop_line
                if part.begin:  # the tail: the same header, the rows from a line break on
                    lines = part.open_body(path, self.options.encoding)
                    prev = part.lines_before
            # A line without a quote (most of a CRM export) is one record, split here: the csv module
            # costs twice as much. It reads the others, and a record's further lines with them.
            delimiter = self.options.delimiter
            records, pending = _record_reader(lines, delimiter)
            split_here = self.split_plain_lines and delimiter not in '"\r\n\0'
            limit = csv.field_size_limit()  # a longer field is the csv module's error to report
            mark = 0

            while True:
                try:
                    for text in lines:
                        if prev >= stop:  # the head's end: the line just read starts the rest's first row
                            part.stopped_at, stop = prev, sys.maxsize
                            yield PAUSE
                        line = prev + 1
                        if split_here and '"' not in text and len(text) <= limit:
                            prev += 1
                            text = text.rstrip("\r\n")  # one line ending (any other ended the line)
                            row = text.split(delimiter) if text else []
                        else:
                            pending.append(text)
                            mark = records.line_num
                            row = next(records, None)
                            if row is None:
                                break
                            prev += records.line_num - mark
                        if len(row) != width:
                            if not row:
                                continue  # a blank line
                            if len(row) <= last:
                                report(RowProblem(shown, line, f"has {len(row)} field{'s' * (len(row) != 1)}, "
                                                  f"the header has {width}: too few columns; expected "
                                                  f"{EXPECTED_HEADER}{record_span_note(line, prev)}"))
                                continue
                            if len(row) > width and any(row[width:]):
                                report(RowProblem(shown, line, f"has {len(row)} fields, the header has {width}: "
                                                  "too many columns; quote values that contain the "
                                                  f"delimiter {self.options.delimiter!r}{record_span_note(line, prev)}"))
                                continue
                        account_id = row[i_acc].strip()
                        plan = row[i_plan]
                        status = row[i_status]
                        email = row[i_email].strip().lower()
                        tier = plan_tier.get(plan)
                        local, _, domain = email.partition("@")  # EMAIL_RE, in halves (see LOCAL_RE)
                        if domain != last_domain:
                            last_domain, domain_ok = domain, domain_match(domain) is not None
                        if (tier is None or status not in statuses or not account_id or not domain_ok
                                or not (local.isalnum() or local_match(local) is not None)):
                            why = _why(account_id, plan, status, email, plan_folded, statuses, hints,
                                       known_plans, did_you_mean, email_match)
                            if why:
                                report(RowProblem(shown, line, why))
                                continue
                            plan = plan_folded[plan.strip().lower()]
                            tier = plan_tier[plan]
                            status = status.strip().lower()
                        more = ()
                        if extras is not None:
                            more = extras(row)
                            if isinstance(more, str):
                                report(RowProblem(shown, line, more))
                                continue
                        if account_id != run_account:
                            run_account = account_id
                            run_starts.append(line)
                            run_accounts.append(account_id)
                        first = first_line.setdefault(email, line)
                        if first != line:
                            # One person is surveyed once per occasion: a second row would be taken for
                            # a second survey and held back "by the throttle", hiding the mistake.
                            was = run_accounts[bisect_right(run_starts, first) - 1]
                            report(RowProblem(shown, line, f"duplicate contact: {email} is listed on line {first} "
                                              f"already (account {quoted(was)}"
                                              + (f"; here account {quoted(account_id)}" if account_id != was else "")
                                              + "); remove one of the two rows, this one is skipped"))
                            continue
                        if more:
                            yield Contact(account_id, row[i_name].strip() or account_id, plan, status, email,
                                          row[i_cname].strip(), row[i_role].strip(),
                                          row[i_locale].strip() or default_locale, tier, *more)
                        else:  # no optional columns: a plain call (a star-call costs more, a million times)
                            yield Contact(account_id, row[i_name].strip() or account_id, plan, status, email,
                                          row[i_cname].strip(), row[i_role].strip(),
                                          row[i_locale].strip() or default_locale, tier)
                    break
                except csv.Error as exc:
                    # The reader can go on after a bad record (e.g. a field over the size limit).
                    report(RowProblem(shown, prev + 1, f"unreadable row: {exc}"))
                    prev += records.line_num - mark
                except UnicodeDecodeError as exc:
                    raise TierctlError(f"{where_undecodable(path, shown, self.options.encoding, prev + 1)}; "
                                       f"{_encoding_hint(exc, self.options.encoding)}") from None




def _record_reader(lines: Iterator[str], delimiter: str):
    """A csv reader of the records that start with a line put in ``pending`` (the returned list),
    reading a record's further lines from ``lines``: ``(reader, pending)``."""
    import csv

    pending: list[str] = []

    def feed() -> Iterator[str]:
        while True:
            if pending:
                yield pending.pop()
                continue
            text = next(lines, None)
            if text is None:
                return
            yield text

    return csv.reader(feed(), delimiter=delimiter), pending


def _optional_columns(header: list[str], email_match):
    """A reader of the optional contact columns present in ``header`` (None when there are none).

    It returns ``(phone, sms_opt_in, whatsapp_opt_in, timezone, owner, status_since)``
    for a row, or why the row is bad.
    """
    names = [re.sub(r"[\s-]+", "_", h.replace("\ufeff", "").strip().lower()) for h in header]
    where = {name: names.index(name) for name in OPTIONAL_COLUMNS if name in names}
    if not where:
        return None
    cols = tuple(where.get(name) for name in OPTIONAL_COLUMNS)
    zones: dict[str, bool] = {"": True}
    dates: dict[str, str] = {"": ""}  # status_since -> why it is bad, "" when it is good
    phone_check = _phone_checker() if cols[0] is not None else None

    def read(row: list[str]):
        phone, sms, whatsapp, zone, owner, since = (row[i].strip() if i is not None and i < len(row) else ""
                                                    for i in cols)
        problems = []
        if phone:
            normal = phone_check(phone)
            if normal is None:
                problems.append(f"phone {quoted(phone)} is not a valid international number; expected E.164 such as "
                                "+31612345678 (a +, the country code, the number, no spaces)")
            phone = normal or ""
        sms_ok = _YES.get(sms.lower())
        whatsapp_ok = _YES.get(whatsapp.lower())
        for column, value, ok in (("sms_opt_in", sms, sms_ok), ("whatsapp_opt_in", whatsapp, whatsapp_ok)):
            if ok is None:
                problems.append(f"{column} {quoted(value)} is not yes or no")
        if zone not in zones:
            zones[zone] = _known_zone(zone)
        if not zones[zone]:
            problems.append(f"timezone {quoted(zone)} is not an IANA time zone such as Europe/Amsterdam")
        owner = owner.lower()
        if owner and email_match(owner) is None:
            problems.append(f"owner {quoted(owner)} is not an e-mail address")
        if since not in dates:
            dates[since] = _since_problem(since)
        if dates[since]:
            problems.append(dates[since])
        if problems:
            return "; ".join(problems)
        return phone, bool(sms_ok), bool(whatsapp_ok), zone, owner, since

    return read


def _phone_checker():
    """``number -> E.164 text``, or None when ``phonenumbers`` finds it invalid."""
    import phonenumbers

    parse, valid, e164 = phonenumbers.parse, phonenumbers.is_valid_number, phonenumbers.PhoneNumberFormat.E164
    fmt = phonenumbers.format_number

    def check(text: str) -> str | None:
        if not text.startswith("+"):
            return None  # E.164 only: a national number's country would be a guess
        try:
            number = parse(text, None)
        except phonenumbers.NumberParseException:
            return None
        return fmt(number, e164) if valid(number) else None

    return check


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _since_problem(text: str) -> str:
    """Why ``text`` is no status_since, or "" when it is an ISO date or date-time."""
    from datetime import date, datetime

    try:
        moment = (datetime if "T" in text or " " in text else date).fromisoformat(text)
    except ValueError:
        return f"status_since {quoted(text)} is not an ISO date such as 2026-03-01"
    # Occasions count in months and years from it: near the calendar's ends that arithmetic overflows.
    if not 1900 <= moment.year <= 9000:
        return f"status_since {quoted(text)} is outside the years 1900 to 9000"
    return ""


def _encoding_hint(exc: Exception, encoding: str) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return (f"the file is not {encoding}: save it as CSV UTF-8, or set sources.customers.encoding "
                "(for example cp1252 for an Excel export on Windows)")
    return "check that the file is a CSV file"


def _column_index(header: list[str] | None, shown: str, line: int) -> dict[str, int]:
    """Map each required column to its position; raise if any is missing or doubled."""
    if header is None:
        raise TierctlError(f"{shown}: the file is empty; expected a header line: {EXPECTED_HEADER}")
    # "Account ID" and "contact-email" name the columns account_id and contact_email.
    names = [re.sub(r"[\s-]+", "_", h.replace("\ufeff", "").strip().lower()) for h in header]
    index: dict[str, int] = {}
    doubled: list[str] = []
    for i, name in enumerate(names):
        if name in COLUMNS:
            if name in index:
                doubled.append(name)
            index.setdefault(name, i)
    missing = [c for c in COLUMNS if c not in index]
    if missing:
        from tierctl.util.suggest import did_you_mean

        extra = [n for n in names if n not in COLUMNS]
        hints = ""
        for column in missing:
            # "email" for contact_email, "name" for contact_name, ...
            near = [n for n in extra if n and column.endswith("_" + n)]
            hint = f" (did you mean {near[0]!r}?)" if near else did_you_mean(column, extra)
            if hint:
                hints += f"; {column}{hint}"
        raise TierctlError(f"{shown}:{line}: the header lacks column{'s' * (len(missing) != 1)} "
                           f"{', '.join(missing)}; expected header: {EXPECTED_HEADER} "
                           f"(found: {','.join(h.strip() for h in header)}){hints}; rename or add the columns")
    if doubled:
        raise TierctlError(f"{shown}:{line}: column{'s' * (len(doubled) != 1)} {', '.join(sorted(set(doubled)))} "
                           f"appear{'s' * (len(doubled) == 1)} twice in the header; keep one")
    return index


def _why(account_id: str, plan: str, status: str, email: str, plan_folded: dict[str, str],
         statuses: frozenset[str], hints: dict[tuple[str, str], str], known_plans: str,
         did_you_mean, email_match) -> str:
    """Why a row that failed the fast checks is bad ('' when only case or spaces differ)."""
    missing = [name for name, value in (("account_id", account_id), ("plan", plan.strip()),
                                        ("status", status.strip()), ("contact_email", email)) if not value]
    if missing:
        if missing == ["account_id"]:
            return "empty account_id; every contact needs the id of its account"
        return f"missing value{'s' * (len(missing) != 1)} for {', '.join(missing)}"
    problems = []
    if plan.strip().lower() not in plan_folded:
        key = ("plan", plan)
        if key not in hints:
            hints[key] = (f"plan {quoted(plan)} is not covered by any tier{did_you_mean(plan, plan_folded.values())}"
                          f"; known plans: {known_plans}")
        problems.append(hints[key])
    if status.strip().lower() not in statuses:
        key = ("status", status)
        if key not in hints:
            from tierctl.config.model import STATUSES

            hints[key] = (f"unknown status {quoted(status)}{did_you_mean(status.strip().lower(), statuses)}; "
                          f"expected one of {', '.join(STATUSES)}")
        problems.append(hints[key])
    if email_match(email) is None:
        problems.append(f"contact_email {quoted(email)} is not a valid e-mail address")
    return "; ".join(problems)


@hookimpl
def register_sources(register):
    register("csv", CsvCustomers)
