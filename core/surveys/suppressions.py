"""Opt-outs that hold: suppressing, lifting, importing and erasing contacts (``tierctl contacts``).

The ledger keeps the suppressions (:meth:`tierctl.storage.ledger.Ledger.add_suppression`);
the scheduler skips a suppressed address for every survey in scope and
provider (``skipped: opted out``). This module is the engine behind the
commands, usable from Python: each action is logged on ``tierctl.contacts``
(addresses are personal data, so the log says what was done and to whom, and
nothing else).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tierctl.errors import TierctlError
from tierctl.records import RowProblem
from tierctl.storage.ledger import checked_number, normalise_address

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.storage.ledger import Ledger

log = logging.getLogger("tierctl.contacts")

#: Column names a mail platform's unsubscribe export uses for the address (compared case-insensitively).
ADDRESS_COLUMNS = ("email", "email address", "e-mail", "address", "contact_email", "recipient")
#: A suppression file bigger than this is refused (a few million addresses fit).
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def check_address(address: str) -> str:
    """The normalised address, or a :class:`TierctlError` saying what was expected."""
    normal = normalise_address(address)
    local, _, domain = normal.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in normal):
        raise TierctlError(f"{address!r} is not an e-mail address; expected name@domain.example")
    return normal


def check_survey(config: "Config", survey_id: str | None) -> None:
    if survey_id is not None and survey_id not in config.surveys:
        from tierctl.util.suggest import did_you_mean, one_of

        raise TierctlError(f"no survey {survey_id!r}{did_you_mean(survey_id, config.surveys)}; "
                           f"surveys in {config.path or 'the config'}: {one_of(config.surveys)}")


def add_suppression(ledger: "Ledger", address: str, survey_id: str | None, source: str, reason: str | None,
                    now: datetime, channel: str = "email") -> bool:
    """:meth:`Ledger.add_suppression`, also on a storage backend written before its ``channel``
    parameter: an e-mail opt-out is asked without it (with a DeprecationWarning), a text
    channel's opt-out is a clear error there instead of a TypeError."""
    if supports_channels(ledger):
        return ledger.add_suppression(address, survey_id, source, reason, now, channel=channel)
    _old_backend(ledger, channel)
    return ledger.add_suppression(address, survey_id, source, reason, now)


def remove_suppression(ledger: "Ledger", address: str, survey_id: str | None, channel: str = "email") -> int:
    """:meth:`Ledger.remove_suppression`, also on an older storage backend (see :func:`add_suppression`)."""
    if supports_channels(ledger):
        return ledger.remove_suppression(address, survey_id, channel=channel)
    _old_backend(ledger, channel)
    return ledger.remove_suppression(address, survey_id)


def supports_channels(ledger: "Ledger") -> bool:
    """Whether the backend's suppression methods take ``channel`` (every built-in one does)."""
    import inspect

    for name in ("add_suppression", "remove_suppression"):
        try:
            parameters = inspect.signature(getattr(ledger, name)).parameters.values()
        except (TypeError, ValueError):  # no signature to read: trust it
            continue
        if not any(p.name == "channel" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return False
    return True


def _old_backend(ledger: "Ledger", channel: str) -> None:
    import warnings

    kind = type(ledger).__name__
    if channel != "email":
        raise TierctlError(f"the storage backend {kind} keeps no opt-outs of {channel} numbers: its "
                           "add_suppression and remove_suppression lack the channel parameter; update the "
                           "backend (see docs/api.md, the Ledger interface)")
    warnings.warn(f"{kind}.add_suppression/remove_suppression lack the 'channel' parameter (added for SMS and "
                  "WhatsApp opt-outs): e-mail opt-outs still work; add it, as docs/api.md says",
                  DeprecationWarning, stacklevel=3)


def opt_out(ledger: "Ledger", address: str, survey_id: str | None, source: str, reason: str | None,
            now: datetime, channel: str = "email") -> bool:
    """Suppress ``address`` (for one survey or all; with a text ``channel``, a phone number on that
    channel); returns whether it is new."""
    address = check_address(address) if channel == "email" else address.strip()
    added = add_suppression(ledger, address, survey_id, source, reason, now, channel)
    log.info("opt-out %s: %s, %s (source %s)%s", "recorded" if added else "already recorded", address,
             f"survey {survey_id}" if survey_id else "all surveys", source, f": {reason}" if reason else "")
    return added


def opt_in(ledger: "Ledger", address: str, survey_id: str | None, channel: str = "email") -> int:
    """Lift the suppressions of ``address`` (of one survey, or all; or a number's on ``channel``);
    returns how many."""
    # Checked as an opt-out is: a typo must not report "lifted 0" as if the number had none.
    address = check_address(address) if channel == "email" else checked_number(address)
    lifted = remove_suppression(ledger, address, survey_id, channel)
    log.info("opt-in %s: %d suppression(s) lifted%s", address, lifted, f" (survey {survey_id})" if survey_id else "")
    return lifted


def forget(ledger: "Ledger", address: str, now: datetime) -> dict[str, int]:
    """Erase a person's personal data from the ledger (see :meth:`Ledger.forget_contact`)."""
    address = check_address(address)
    counts = ledger.forget_contact(address, now)
    log.info("forgot a contact: %d invitation(s) pseudonymised, %d free-text answer(s) erased, "
             "%d suppression(s) kept by hash only", counts["invitations"], counts["text_answers"],
             counts["suppressions"])
    return counts


@dataclass
class ImportResult:
    """What ``import-suppressions`` did."""

    added: int = 0
    existing: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def import_suppressions(config: "Config", ledger: "Ledger", path: Path, now: datetime) -> ImportResult:
    """Suppress every address in a CSV file (a mail platform's unsubscribe export).

    The address column is the first of :data:`ADDRESS_COLUMNS` present; optional
    ``survey`` and ``reason`` columns narrow the scope and say why. Bad rows
    are listed and skipped; importing the same file again adds nothing.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TierctlError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size > MAX_IMPORT_BYTES:
        raise TierctlError(f"{path}: {size} bytes is more than a suppression list should be "
                           f"({MAX_IMPORT_BYTES} at most); split it")
    result = ImportResult()
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        try:
            reader = csv.DictReader(text)
            header = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
            column = next((header[c] for c in ADDRESS_COLUMNS if c in header), None)
            if column is None:
                raise TierctlError(f"{path}:1: no address column; expected one named "
                                   f"{', '.join(repr(c) for c in ADDRESS_COLUMNS)} (found "
                                   f"{', '.join(repr(h) for h in reader.fieldnames or []) or 'none'})")
            survey_col, reason_col = header.get("survey"), header.get("reason")
            for row in reader:
                line = reader.line_num
                value = (row.get(column) or "").strip()
                survey_id = (row.get(survey_col) or "").strip() or None if survey_col else None
                try:
                    address = check_address(value)
                    check_survey(config, survey_id)
                except TierctlError as exc:
                    result.problems.append(RowProblem(str(path), line, str(exc)))
                    continue
                reason = ((row.get(reason_col) or "").strip() or None) if reason_col else None
                if ledger.add_suppression(address, survey_id, "import", reason or f"imported from {path.name}", now):
                    result.added += 1
                else:
                    result.existing += 1
        except UnicodeDecodeError as exc:
            raise TierctlError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                               "export it as UTF-8 CSV") from None
        except csv.Error as exc:
            raise TierctlError(f"{path}: not a readable CSV file ({exc})") from None
    log.info("imported suppressions from %s: %d new, %d already recorded, %d bad row(s)", path, result.added,
             result.existing, len(result.problems))
    return result
