"""The pre-meeting brief: what an account's stakeholders answered before its next call.

Surveys whose trigger is ``before_meeting`` go to an account's key
stakeholders a few days before each meeting, so the agent starts the call
prepared. :func:`build_brief` finds the account's pre-meeting invitations in
the ledger, picks the meeting (the next one at or after ``now``, or the one
asked for), and lists who was invited, who answered when and what (each
answer with its question; scores with their scale, "CSAT 4/5"), and who has
not answered. The meeting's start is the invitation's ``closes_at``; its
occasion is ``meeting:<uid>@<start>``.

Contacts' names and roles come from the customers source when it can be
read; an account can be named by its id or, exactly, by its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from tierctl.errors import TierctlError
from tierctl.i18n import N_, _, current_language, ngettext

from tierctl.publish.figures import state_word

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

#: Invitation states in which the stakeholder got (or may have got) the survey.
REACHED_STATES = ("sent", "sending", "unknown")
SCALE_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": N_("rating")}


@dataclass
class BriefAnswer:
    """One question of the survey and the stakeholder's answer (``None`` when unanswered)."""

    question_id: str
    question: str
    qtype: str
    score: float | None = None
    text: str | None = None
    scale: tuple[int, int] | None = None

    @property
    def answered(self) -> bool:
        return self.score is not None or self.text is not None

    def display(self) -> str:
        """``CSAT 4/5``, ``NPS 9/10``, ``rating 7 (1-10)``, a choice's label, or the free text."""
        if self.score is not None:
            score = int(self.score) if float(self.score).is_integer() else self.score
            label = _(SCALE_LABELS[self.qtype]) if self.qtype in SCALE_LABELS else self.qtype
            if self.scale is None:
                return f"{label} {score}"
            low, high = self.scale
            return f"{label} {score}/{high}" if low in (0, 1) else f"{label} {score} ({low}-{high})"
        if self.text is not None:
            return self.text
        return _("(no answer)")

    def as_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "question": self.question, "type": self.qtype,
                "score": self.score, "text": self.text, "scale": list(self.scale) if self.scale else None,
                "display": self.display() if self.answered else None}


@dataclass
class Stakeholder:
    """One invited contact: the invitation's state and, if they answered, when and what."""

    email: str
    name: str
    role: str
    survey_id: str
    state: str
    invite_id: str
    sent_at: datetime | None
    reason: str | None = None
    submitted_at: datetime | None = None
    answers: list[BriefAnswer] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.submitted_at is not None

    @property
    def reached(self) -> bool:
        return self.state in REACHED_STATES

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "name": self.name, "role": self.role, "survey": self.survey_id,
                "state": self.state, "invite_id": self.invite_id, "reason": self.reason,
                "sent_at": _iso(self.sent_at), "answered": self.answered, "submitted_at": _iso(self.submitted_at),
                "answers": [a.as_dict() for a in self.answers] if self.answered else []}


@dataclass
class Brief:
    """What :func:`build_brief` found; ``meeting_start`` is ``None`` when there is no meeting to show."""

    account_id: str
    account_name: str
    timezone: str
    meeting_start: datetime | None = None
    occasion: str | None = None
    surveys: dict[str, str] = field(default_factory=dict)  # survey id -> title
    stakeholders: list[Stakeholder] = field(default_factory=list)
    other_meetings: list[datetime] = field(default_factory=list)  # the account's other surveyed meetings
    note: str = ""

    @property
    def answered(self) -> list[Stakeholder]:
        return sorted((s for s in self.stakeholders if s.answered), key=lambda s: s.submitted_at)  # type: ignore

    @property
    def waiting(self) -> list[Stakeholder]:
        return [s for s in self.stakeholders if not s.answered]

    def local(self, moment: datetime) -> str:
        from zoneinfo import ZoneInfo

        local = moment.astimezone(ZoneInfo(self.timezone))
        if current_language() == "en":
            return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"
        from babel.dates import format_datetime

        from tierctl.i18n.formatting import babel_locale

        return format_datetime(local, "EEE d MMM y, HH:mm", tzinfo=local.tzinfo, locale=babel_locale())

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "account_name": self.account_name, "timezone": self.timezone,
                "meeting": None if self.meeting_start is None else {
                    "start": _iso(self.meeting_start), "local": self.local(self.meeting_start),
                    "occasion": self.occasion},
                "surveys": self.surveys, "invited": [s.as_dict() for s in self.stakeholders],
                "answered": [s.email for s in self.answered], "not_answered": [s.email for s in self.waiting],
                "other_meetings": [_iso(m) for m in self.other_meetings], "note": self.note}

    def text(self) -> str:
        """The brief as markdown-ish plain text."""
        lines = [f"# {self.account_name} ({self.account_id})" if self.account_name != self.account_id
                 else f"# {self.account_id}"]
        if self.meeting_start is None:
            lines += ["", self.note]
            return "\n".join(lines) + "\n"
        lines += ["", _("Meeting: %(when)s (%(zone)s)") % {"when": self.local(self.meeting_start),
                                                              "zone": self.timezone}]
        titles = ", ".join(f"{title} ({sid})" for sid, title in self.surveys.items())
        reached = [s for s in self.stakeholders if s.reached]
        sent = ngettext("sent to %(num)s stakeholder", "sent to %(num)s stakeholders", len(reached)) % {
            "num": len(reached)}
        lines.append(_("Survey: %(titles)s; %(sent)s, %(answered)s answered.") % {
            "titles": titles, "sent": sent, "answered": len(self.answered)})
        for s in self.answered:
            assert s.submitted_at is not None
            lines += ["", "## " + _("%(who)s, answered %(when)s") % {"who": _who(s),
                                                                       "when": self.local(s.submitted_at)}]
            for a in s.answers:
                if a.qtype == "text" and a.text is not None:
                    lines.append(f"- {a.question}")
                    lines += [f"  > {part}" if part else "  >" for part in a.text.splitlines() or [""]]
                else:
                    lines.append(f"- {a.question}  {a.display()}")
        if self.waiting:
            lines += ["", "## " + _("Not answered")]
            for s in self.waiting:
                if s.reached:
                    sent = _("sent %(when)s") % {"when": self.local(s.sent_at)} if s.sent_at else \
                        _("state %(state)s") % {"state": state_word(s.state)}
                    lines.append(f"- {_who(s)}: {sent}")
                else:
                    why = state_word(s.state) + (": " + s.reason if s.reason else "")
                    lines.append(f"- {_who(s)}: " + _("not reached (%(why)s)") % {"why": why})
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def _who(s: Stakeholder) -> str:
    name = f"{s.name} <{s.email}>" if s.name else s.email
    return f"{name}, {s.role}" if s.role else name


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def meeting_surveys(config: "Config") -> dict[str, str]:
    """The surveys sent before meetings: ``survey id -> title``."""
    from tierctl.config.model import MeetingTrigger

    return {sid: s.title for sid, s in config.surveys.items() if isinstance(s.trigger, MeetingTrigger)}


@dataclass
class _Directory:
    """What the customers source says about accounts: names, ids and one account's contacts."""

    names: dict[str, str] = field(default_factory=dict)  # account id -> account name
    contacts: dict[str, tuple[str, str]] = field(default_factory=dict)  # e-mail -> (name, role)
    problem: str = ""


def _read_directory(config: "Config", host: "PluginHost", account: str) -> _Directory:
    """One pass over the customers source: every account's name, and the contacts of ``account``
    (an id, or an exact name). A source that cannot be read leaves a note instead."""
    from tierctl.surveys.instances import build_customer_source

    directory = _Directory()
    wanted = account.casefold()
    try:
        source = build_customer_source(config, host)
        for contact in source.contacts(lambda problem: None):
            directory.names.setdefault(contact.account_id, contact.account_name)
            if contact.account_id == account or contact.account_name.casefold() == wanted:
                directory.contacts.setdefault(contact.email, (contact.name, contact.role))
    except TierctlError as exc:
        directory.problem = _("the customers source could not be read, so names are missing: %(error)s") % {
            "error": exc}
    return directory


def resolve_account(account: str, ledger_ids: set[str], names: dict[str, str]) -> str:
    """The account id ``account`` names (an id, or exactly an account's name), or an error with a hint.

    :param names: account id -> account name, from the customers source.
    """
    if account in ledger_ids or account in names:
        return account
    by_name = sorted(aid for aid, name in names.items() if name.casefold() == account.casefold())
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise TierctlError(f"{len(by_name)} accounts are named {account!r}: {', '.join(by_name)}; "
                           "give the account id")
    import difflib

    known = ledger_ids | set(names)
    if not known:
        raise TierctlError(f"no account {account!r}: the customers source and the ledger have no accounts yet")
    # Close to an id, or to a name (then shown with its id).
    candidates = {aid: aid for aid in known}
    candidates.update({name: aid for aid, name in names.items()})
    close = difflib.get_close_matches(account, list(candidates), n=1, cutoff=0.6) or \
        difflib.get_close_matches(account.casefold(), [c.casefold() for c in candidates], n=1, cutoff=0.6)
    hint = ""
    if close:
        match = next(c for c in candidates if c == close[0] or c.casefold() == close[0])
        aid = candidates[match]
        hint = f" (did you mean {aid!r}{', ' + names[aid] if names.get(aid, aid) != aid else ''}?)"
    raise TierctlError(f"no account {account!r} in the customers source or the ledger{hint}; give an account "
                       f"id (such as {min(known)!r}) or an account's exact name")


def _parse_meeting(value: str, tz_name: str) -> tuple[datetime | None, date | None]:
    """``--meeting``: an ISO date-time (a zone-less one in ``tz_name``), or a date alone."""
    from zoneinfo import ZoneInfo

    text = value.strip()
    if len(text) == 10:
        try:
            return None, date.fromisoformat(text)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TierctlError(f"--meeting {value!r} is not an ISO date or date-time such as 2027-01-05 or "
                           "2027-01-05T10:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz_name))
    return moment.astimezone(timezone.utc), None


def build_brief(config: "Config", ledger: "Ledger | None", host: "PluginHost", account: str,
                now: datetime | None = None, meeting: str | None = None) -> Brief:
    """The brief for ``account``'s next surveyed meeting (see the module docstring).

    :param ledger: ``None`` when there is no ledger yet (nothing was sent).
    :param meeting: an ISO date-time of the meeting's start, or a date (the
        account's first surveyed meeting that day, in the organisation's zone).
    :raises tierctl.errors.TierctlError: no survey is sent before meetings,
        an unknown account (with a "did you mean"), or a ``--meeting`` that
        matches none of the account's surveyed meetings.
    """
    from zoneinfo import ZoneInfo

    surveys = meeting_surveys(config)
    if not surveys:
        raise TierctlError(f"no survey in {config.path or 'the config'} is sent before meetings (trigger: "
                           "{before_meeting: 3d}), so there are no pre-meeting answers to brief on")
    tz_name = config.organization.timezone
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    directory = _read_directory(config, host, account)
    ledger_ids = ledger.account_ids() if ledger is not None else set()
    account_id = resolve_account(account, ledger_ids, directory.names)
    brief = Brief(account_id, directory.names.get(account_id, account_id), tz_name, surveys=dict(surveys))
    if directory.problem:
        brief.note = directory.problem
    invitations = ledger.invitations_for_account(account_id, list(surveys)) if ledger is not None else []
    meetings = sorted({inv["closes_at"] for inv in invitations})
    if not meetings:
        brief.note = (_("no pre-meeting survey (%(surveys)s) has been sent to %(account)s's stakeholders yet; "
                        "`tierctl survey send` sends it a few days before each meeting.") % {
            "surveys": ", ".join(surveys), "account": account_id} + " " + brief.note).strip()
        return brief
    if meeting is not None:
        moment, day = _parse_meeting(meeting, tz_name)
        tz = ZoneInfo(tz_name)
        chosen = [m for m in meetings if (m == moment if moment is not None else m.astimezone(tz).date() == day)]
        if not chosen:
            raise TierctlError(f"{account_id} has no surveyed meeting at {meeting}; its meetings with a "
                               f"pre-meeting survey: {', '.join(brief.local(m) for m in meetings)} ({tz_name})")
        start = chosen[0]
    else:
        upcoming = [m for m in meetings if m >= now]
        if not upcoming:
            brief.other_meetings = meetings
            brief.note = (_("no upcoming meeting of %(account)s has a pre-meeting survey; the last was "
                            "%(when)s (%(zone)s): see it with --meeting %(day)s.") % {
                "account": account_id, "when": brief.local(meetings[-1]), "zone": tz_name,
                "day": meetings[-1].astimezone(ZoneInfo(tz_name)).date().isoformat()} + " " + brief.note).strip()
            return brief
        start = upcoming[0]
    brief.meeting_start = start
    brief.other_meetings = [m for m in meetings if m != start]
    chosen_invitations = [inv for inv in invitations if inv["closes_at"] == start]
    brief.occasion = chosen_invitations[0]["occasion"]
    responses = {r["invite_id"]: r for r in ledger.responses_for_account(account_id)
                 if r["survey_id"] in surveys} if ledger is not None else {}
    for inv in chosen_invitations:
        name, role = directory.contacts.get(inv["contact_email"], ("", ""))
        stakeholder = Stakeholder(inv["contact_email"], name, role, inv["survey_id"], inv["state"],
                                  inv["invite_id"], inv["sent_at"], inv["reason"])
        response = responses.get(inv["invite_id"])
        if response is not None:
            stakeholder.submitted_at = response["submitted_at"]
            stakeholder.answers = _answers(config, inv["survey_id"], response["answers"])
        brief.stakeholders.append(stakeholder)
    return brief


def _answers(config: "Config", survey_id: str, stored: dict[str, dict[str, Any]]) -> list[BriefAnswer]:
    """The survey's questions in config order with their answers; answers to removed questions last."""
    out = []
    survey = config.surveys[survey_id]
    for q in survey.questions:
        answer = stored.get(q.id, {})
        out.append(BriefAnswer(q.id, q.text, q.type, answer.get("score"), answer.get("text"), q.bounds))
    asked = {q.id for q in survey.questions}
    for qid, answer in stored.items():
        if qid not in asked:
            out.append(BriefAnswer(qid, qid, answer["qtype"], answer.get("score"), answer.get("text")))
    return out
