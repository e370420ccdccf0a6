"""What a survey plan is made of: its items, its counts, and the scheduler's working records.

The scheduler (:mod:`tierctl.surveys.scheduler`) yields due rows ``(Occasion, Contact)`` and
:class:`Deferral` items and counts the rest in a :class:`PlanSummary`; a pass over the contacts
keeps what the meeting pass needs in a :class:`ContactPass`. The touchpoints planner shares
the deferral and the counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tierctl.records import Contact, Invitation, RowProblem

if TYPE_CHECKING:
    from tierctl.config.model import Survey

# States in the ledger that close a (survey, contact, occasion) for good.
FINAL_STATES = frozenset({"sending", "sent", "failed", "unknown"})

#: Invitation.consent for a contact's (sms_opt_in, whatsapp_opt_in): shared tuples, one per case.
CONSENT = {(False, False): (), (True, False): ("sms",), (False, True): ("whatsapp",),
           (True, True): ("sms", "whatsapp")}


@dataclass(frozen=True, slots=True)
class Deferral:
    """An invitation held back by the throttle, and until when."""

    invitation: Invitation
    until: datetime
    reason: str


@dataclass
class PlanSummary:
    """Counts behind a plan, for the last line of ``survey plan``."""

    contacts: int = 0
    due: int = 0
    deferred: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    #: ``(survey, contact e-mail)`` skipped because the address opted out (the first 200; all are counted).
    opted_out: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ContactPass:
    """A pass over (part of) the contacts, as far as it went: what the meeting pass needs
    (which accounts an e-mail links meetings to, the contacts held back for it) and the
    counts added to the summary once at the end (contacts seen, churned, skipped per route)."""

    accounts_of: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    held: list[Contact] = field(default_factory=list)
    #: (tier, role) -> contacts of that route that count its skip reasons.
    skipping: Counter[tuple[str, str]] = field(default_factory=Counter)
    seen: int = 0
    churned: int = 0


@dataclass(frozen=True, slots=True)
class Route:
    """What a (tier, role) decides for a contact: whether its e-mail links meetings to its account,
    whether it waits for the meetings (a pre-meeting survey may be due), the skip reasons counted
    for it, and its periodic occasions in the order they are tried (with the survey when spread)."""

    links_meetings: bool
    held: bool
    skips: tuple[str, ...]
    occasions: tuple[tuple["Occasion", "Survey | None"], ...]
    #: One occasion: a contact of this route is decided once in the plan.
    single: bool = False
    #: The one occasion of a route that links no meetings, counts no skip and is not spread in
    #: waves (most contacts of a big plan): a contact of it is one decision, nothing else.
    only: "Occasion | None" = None


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a plan's rows share a few
class Occasion:
    survey_id: str
    occasion: str
    due_at: datetime
    closes_at: datetime
    meeting_start: datetime | None = None
    due_day: str = ""  # due_at as an org-timezone date, computed once per occasion
