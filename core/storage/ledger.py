"""The ledger: the state of every survey invitation, and tierctl's only duplicate protection.

Survey platforms have no idempotency keys, so the engine writes each
invitation to the ledger *before* handing it to a provider (state
``sending``) and records the outcome after. A run that is repeated,
overlapped or killed therefore never surveys anyone twice and never forgets
anyone: the key ``(survey_id, contact_email, occasion)`` is unique, and a
claim is refused when the key is already on its way or done.

States of an invitation:

``deferred``
    held back by the per-contact throttle; sent later while the occasion is open.
``sending``
    claimed by a run and handed to a provider; the outcome is not recorded yet.
``sent``
    the provider accepted it.
``retry``
    a temporary failure; a later run tries again while the occasion is open.
``failed``
    a permanent failure (bounced, invalid address, opted out).
``unknown``
    was ``sending`` when its run died, or the provider's request went out and
    no answer came: it may or may not have gone out, so it is not sent again
    unless someone asks (``--resend-unknown``).

:class:`Ledger` is the interface; :func:`tierctl.storage.opener.open_ledger` picks a backend from
the ``storage.url`` setting. Every method that writes takes ``now``: the
ledger never reads the clock, so tests and ``--now`` backfills are exact.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple

from tierctl.errors import TierctlError
from tierctl.records import HelpdeskRating, Invitation, SendResult, StoredResponse
# The states, the backends' helpers and the opt-out keys live in their own modules; the names
# stay importable from here.
from tierctl.storage import backend_sql as _backend_sql
from tierctl.storage.backend_sql import type_change
from tierctl.storage.states import (CLAIMABLE_STATES, DEFERRED, FAILED, NOT_DELIVERED_STATES, RETRY, SENDING, SENT,
                                    STATES, SURVEYED_STATES, UNKNOWN)
from tierctl.storage.suppression_keys import (ALL_SURVEYS, OPTED_OUT, SUPPRESSION_CHANNELS, SUPPRESSION_SOURCES,
                                              checked_number, checked_suppression, forgotten_address,
                                              normalise_address, phone_suppression_key, scopes_by_key,
                                              suppression_dicts, suppression_key, suppression_key_of)

__all__ = ["ALL_SURVEYS", "OPTED_OUT", "SUPPRESSION_CHANNELS", "SUPPRESSION_SOURCES", "checked_number",
           "checked_suppression", "forgotten_address", "normalise_address", "phone_suppression_key",
           "scopes_by_key", "suppression_dicts", "suppression_key", "suppression_key_of",
           "DEFERRED", "SENDING", "SENT", "RETRY", "FAILED", "UNKNOWN", "STATES", "CLAIMABLE_STATES",
           "SURVEYED_STATES", "NOT_DELIVERED_STATES", "IMPORT_SOURCE", "DELIVERY_RANK", "DELIVERY_COUNTED",
           "UNDELIVERED_COLUMNS", "Key", "InvitationLink", "InvitationRef", "Ledger", "type_change"]

def picked_choices(value: Any) -> list[str]:
    """The ticked choices of a stored multiple_choice answer (a JSON list); ``[]`` for anything else."""
    import json

    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [str(item) for item in items] if isinstance(items, list) else []


#: The ``source`` of imported responses; their response id is ``import:<invite_id>``, so they are
#: unique by their invitation (the SQLite ledger's ``responses_fetched`` index leaves them out).
IMPORT_SOURCE = "import"

#: How far a text's delivery has got, by the platform's status word: a receipt only ever moves it
#: forward, so a late ``sent`` does not undo ``delivered`` (callbacks come out of order).
DELIVERY_RANK = {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
                 "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3, "read": 4}
#: Delivery states ``survey status`` and ``touchpoints status`` count.
DELIVERY_COUNTED = ("delivered", "undelivered", "failed", "read")
#: The keys of :meth:`Ledger.undelivered_texts` rows.
UNDELIVERED_COLUMNS = ("survey_id", "contact_email", "channel", "delivery", "error_code", "updated_at")

Key = tuple[str, str, str]
"""An invitation's identity: ``(survey_id, contact_email, occasion)``."""


#: Backend helpers that moved to :mod:`tierctl.storage.backend_sql`: still importable from here,
#: with a DeprecationWarning, for a storage backend written before the move.
_MOVED_TO_BACKEND_SQL = frozenset({"sql_states", "listing_query", "first_responses", "questions_to_keep"})


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_BACKEND_SQL:
        import warnings

        warnings.warn(f"tierctl.storage.ledger.{name} moved to tierctl.storage.backend_sql.{name}; import it "
                      "from there (the old name goes in a later release)", DeprecationWarning, stacklevel=2)
        return getattr(_backend_sql, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InvitationLink(NamedTuple):
    """What storing a response needs of the invitation it answers.

    ``key`` is the ledger's own key for the invitation: responses and
    answers are stored under it (an integer in the SQLite ledger: cheaper to
    index than ``invite_id``). ``due_day`` is the organisation-zone date of
    ``due_at`` (``YYYY-MM-DD``), the day reports group by. ``due_at`` is UTC
    ISO 8601 text of fixed width (``2026-01-31T09:00:00.000000+00:00``),
    which sorts like time: linking a million responses parses none of them.
    """

    key: Any
    invite_id: str
    survey_id: str
    contact_email: str
    occasion: str
    tier: str
    account_id: str
    state: str
    due_day: str
    due_at: str


class InvitationRef(NamedTuple):
    """What linking and storing a response needs of the invitation it answers, and no more.

    ``key`` is :attr:`InvitationLink.key`; ``tier`` and ``due_day`` are what
    reports group responses by; ``due_at`` (as in :class:`InvitationLink`)
    picks between a contact's invitations when a response carries only an
    e-mail address. An :class:`InvitationLink` has these fields too, so
    either serves where a reference is asked for.
    """

    key: Any
    invite_id: str
    tier: str
    due_day: str
    due_at: str


class Ledger(abc.ABC):
    """Where invitations, runs and pull cursors are kept.

    A backend must make :meth:`claim_batch` atomic and safe against other
    processes claiming the same keys at the same time: that is the whole
    point of the ledger. Datetimes go in timezone-aware and come out
    timezone-aware (UTC); a naive datetime is a programming error
    (``ValueError``).

    A ledger is a context manager that closes itself.

    A backend registers under the ``tierctl.storage`` entry-point group (see
    :mod:`tierctl.storage.opener`) and passes :class:`tierctl.testing.LedgerContract`.

    A backend refuses (``LedgerDamagedError``) storage that exists but is not
    a whole tierctl ledger instead of initialising it, and sets
    :attr:`created` when an open made a new one.
    """

    #: Whether several processes (on several machines) may send at once: claims are safe across
    #: machines and runs hold leases, so ``survey send`` runners share the work instead of taking
    #: the ``send`` lock, and :meth:`mark_stale_sending` leaves live runs' invitations alone.
    concurrent_sends: bool = False

    #: Whether an import gains from storing one batch in a background thread while the next is read:
    #: true when the work happens in another process (a database server) and the GIL is released
    #: meanwhile. Only speed depends on it: batches are stored one at a time, in order, either way.
    overlapped_writes: bool = False

    #: True when opening created this ledger (new and empty): ``survey send`` says so.
    created: bool = False

    @staticmethod
    def redact(text: str | None) -> str | None:
        """Applied to text a provider wrote (a failure's ``reason``) before it is stored: the
        opener sets the config's redactor here, so secrets from the environment are never stored."""
        return text

    def location(self) -> str:
        """Where the ledger is, for messages (a file path, a database name; never a password)."""
        return repr(self)

    # -- locking and runs -------------------------------------------------

    @abc.abstractmethod
    def lock(self, name: str = "send") -> AbstractContextManager[None]:
        """Hold the named lock for the duration of a ``with`` block, without waiting.

        Only one process at a time can hold a given lock (``send`` for
        sending runs). It is released when the block ends and, whatever
        happens, when the holding process ends, even if it is killed, so a
        lock can never get stuck.

        :param name: the lock's name: lower-case letters, digits, ``-`` and ``_``.
        :raises tierctl.errors.LockHeldError: another process holds it; the
            message says who (pid, host, since when).
        """

    @abc.abstractmethod
    def begin_run(self, kind: str, now: datetime) -> int:
        """Record the start of a run (``kind`` such as ``send`` or ``pull``) by this process.

        :returns: the run's id, to pass to :meth:`claim_batch` and :meth:`finish_run`.
        """

    @abc.abstractmethod
    def finish_run(self, run_id: int, now: datetime, status: str, counts: dict[str, int]) -> None:
        """Record the end of a run with its ``status`` (for example ``ok``, ``partial``, ``error``) and counts."""

    @abc.abstractmethod
    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest runs, newest first.

        Each is a dict with ``id``, ``kind``, ``pid``, ``host``,
        ``started_at``, ``finished_at`` (``None`` while running or if the run
        died), ``status`` and ``counts`` (a dict).
        """

    # -- planning ---------------------------------------------------------

    @abc.abstractmethod
    def known_keys(self, open_at: datetime) -> dict[Key, str]:
        """The state of every invitation whose occasion is still open at ``open_at``.

        :returns: ``(survey_id, contact_email, occasion) -> state`` for all
            invitations with ``closes_at >= open_at``. Read in one query; the
            planner calls it once per run, so it must stay fast for a
            million rows.
        """

    @abc.abstractmethod
    def last_surveyed(self, since: datetime) -> dict[str, datetime]:
        """When each contact was last surveyed, for the per-contact throttle across all surveys.

        Counts only invitations of throttled surveys in the states
        ``sent`` (at ``sent_at``), ``sending`` and ``unknown`` (at the time
        they were claimed: they may have gone out), at or after ``since``.

        :returns: ``contact_email -> latest time``; contacts not surveyed
            since ``since`` are absent.
        """

    def contact_times(self, since: datetime) -> dict[str, list[datetime]]:
        """When each contact got something that counts for the fatigue cap, at or after ``since``.

        The same invitations as :meth:`last_surveyed` (surveys and messages),
        but every time, not only the latest: ``messages_per_week`` counts them.
        This default reads :meth:`invitations`; a backend should answer it
        with one indexed query.

        :returns: ``contact_email -> times``, in no particular order.
        """
        out: dict[str, list[datetime]] = {}
        for row in self.invitations():
            at = row.get("sent_at") or row.get("claimed_at")
            if row.get("throttled") and row.get("state") in SURVEYED_STATES and at is not None and at >= since:
                out.setdefault(row["contact_email"], []).append(at)
        return out

    # -- sending ----------------------------------------------------------

    @abc.abstractmethod
    def claim_batch(self, invitations: list[Invitation], run_id: int, now: datetime,
                    provider: str, throttled: dict[str, bool]) -> list[Invitation]:
        """Claim invitations for sending, atomically; return exactly those the caller may send.

        For each invitation, in one transaction:

        * a new key is stored in state ``sending`` for ``run_id``;
        * a key in ``deferred`` or ``retry`` is taken over (``sending``, this
          run, one more attempt); the invitation is returned with the
          *existing* ``invite_id``, because a link carrying that id may
          already be out;
        * a key in any other state (``sending``, ``sent``, ``failed``,
          ``unknown``) is not returned; neither is a key repeated in the batch.

        Two processes claiming the same keys at the same time each get a
        disjoint share.

        :param provider: the provider instance that will send them.
        :param throttled: ``survey_id -> bool``: whether the survey counts
            against the per-contact throttle (missing means ``True``).
        :returns: the claimed invitations, in input order.
        """

    @abc.abstractmethod
    def record_results(self, results: list[SendResult], now: datetime) -> int:
        """Record what providers did with claimed invitations, in one transaction.

        ``ok`` becomes ``sent`` (``sent_at = now``, ``external_id``); a failure
        with ``retry=True`` becomes ``retry``, one with ``unknown=True``
        (:meth:`SendResult.maybe_sent`) becomes ``unknown``, otherwise
        ``failed``; all keep the ``reason``. Only invitations in state
        ``sending`` change.

        :returns: how many invitations changed; fewer than ``len(results)``
            means some ids were unknown or not in ``sending``.
        """

    @abc.abstractmethod
    def record_deferred(self, invitations: list[Invitation], reasons: dict[str, str], now: datetime,
                        provider: str, throttled: dict[str, bool]) -> None:
        """Store invitations held back by the throttle, in one transaction.

        New keys are stored as ``deferred``; keys already ``deferred`` get the
        new reason (and the invitation's current dates, tier and provider);
        keys in any other state are not touched.

        :param reasons: ``invite_id -> reason`` (missing means ``"deferred"``).
        :param throttled: as for :meth:`claim_batch`.
        """

    @abc.abstractmethod
    def mark_stale_sending(self, now: datetime) -> list[dict[str, Any]]:
        """Turn every invitation still in ``sending`` into ``unknown``.

        Call it only while holding the ``send`` lock and before this run
        claims anything: then no live run owns a ``sending`` invitation, so
        these were left by a run that died
        between handing them to a provider and recording the outcome. Runs
        that owned them and never finished are marked ``interrupted``.

        :returns: one dict per invitation: ``invite_id``, ``survey_id``,
            ``contact_email``, ``occasion``, ``run_id``.
        """

    @abc.abstractmethod
    def requeue_unknown(self, now: datetime) -> int:
        """Move every ``unknown`` invitation to ``retry`` (``--resend-unknown``); return how many."""

    def shared_limiter(self, name: str, rate: Any) -> Any:
        """A token bucket for ``rate`` that every process using this ledger draws from, or ``None``.

        Backends with :attr:`concurrent_sends` return one, so that several
        runners together stay within a platform's rate limit; ``None`` (the
        default) leaves each process to pace itself.
        """
        return None

    # -- reporting --------------------------------------------------------

    @abc.abstractmethod
    def status_counts(self) -> dict[str, dict[str, int]]:
        """How many invitations are in each state: ``survey_id -> state -> count``."""

    @abc.abstractmethod
    def invitations(self, state: str | None = None, survey_id: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Invitations for listings, most recently updated first, optionally filtered.

        Each is a dict with the stored columns: ``invite_id``, ``survey_id``,
        ``contact_email``, ``occasion``, ``tier``, ``account_id``,
        ``provider``, ``state``, ``throttled`` (bool), ``due_at``,
        ``closes_at``, ``created_at``, ``updated_at``, ``claimed_at``,
        ``sent_at`` (datetimes or ``None``), ``external_id``, ``reason``,
        ``attempts``, ``run_id``.
        """

    @abc.abstractmethod
    def invitation(self, invite_id: str) -> dict[str, Any] | None:
        """One invitation by its id (as :meth:`invitations` lists them), or ``None``: what the hosted
        form needs to know about the link it was opened with."""

    @abc.abstractmethod
    def stored_scope(self) -> tuple[set[str], set[str]]:
        """``(survey ids, tiers)`` that invitations in the ledger have (for "did you mean" hints)."""

    @abc.abstractmethod
    def metrics(self, use_rollup: bool = True) -> Any:
        """The :class:`tierctl.responses.metrics.MetricsSource` that counts this ledger's responses.

        ``use_rollup=False`` counts every answer raw (for checks and benchmarks).
        """

    # -- copying (tierctl ledger copy) -------------------------------------

    def dump_table(self, table: str) -> Any:
        """The rows of a portable table (:data:`tierctl.storage.copying.TABLES`), canonical, in key order."""
        raise TierctlError(f"the ledger backend {type(self).__name__} cannot be copied")

    def load_table(self, table: str, rows: Any) -> int:
        """Write canonical rows into an empty portable table, keeping their keys; return how many."""
        raise TierctlError(f"the ledger backend {type(self).__name__} cannot be copied into")

    def rebuild_rollup(self) -> None:
        """Count the metrics rollup again from the stored answers (after a copy, or as a repair)."""

    # -- response pulls ---------------------------------------------------

    @abc.abstractmethod
    def get_cursor(self, provider: str, survey_id: str) -> str | None:
        """The saved position of incremental response pulls, or ``None`` before the first."""

    @abc.abstractmethod
    def set_cursor(self, provider: str, survey_id: str, cursor: str, now: datetime) -> None:
        """Save the position of incremental response pulls."""

    # -- responses --------------------------------------------------------
    #
    # A response answers one invitation; the first one stored for an
    # invitation is kept and later ones are duplicates.

    # -- helpdesk ratings ------------------------------------------------
    #
    # Satisfaction ratings from a helpdesk (Zendesk's good/bad), kept apart from survey
    # responses: they answer tickets, not invitations. ``source`` is the helpdesk
    # instance's name; a rating is kept once per (source, rating_id), a later import
    # of the same rating replaces its score and tier.

    @abc.abstractmethod
    def add_helpdesk_ratings(self, source: str, rows: "list[HelpdeskRating]") -> int:
        """Store ratings (insert, or update the score, tier and day of ones already kept) in
        one transaction; return how many were new."""

    @abc.abstractmethod
    def helpdesk_rating_counts(self) -> list[tuple[str, str, str, str, int]]:
        """``(source, tier, day, score, count)`` for every stored rating group, sorted."""

    @abc.abstractmethod
    def lookup_invitations(self, invite_ids: list[str]) -> dict[str, InvitationLink]:
        """The invitations with these ids, in one query per batch: ``invite_id -> link``.

        Unknown ids are absent.
        """

    def answerable_invitations(self, survey_id: str, invite_ids: list[str]) -> dict[str, InvitationRef]:
        """The invitations among ``invite_ids`` that a response to ``survey_id`` can answer:
        ``invite_id -> reference``.

        Those of the survey that were handed out (any state but ``deferred``).
        Ids that are unknown, of another survey or never sent are absent: ask
        :meth:`lookup_invitations` why. An import asks this for every row, so a
        backend should answer it without reading more than the reference holds;
        this default asks :meth:`lookup_invitations`.
        """
        return {invite_id: InvitationRef(link.key, link.invite_id, link.tier, link.due_day, link.due_at)
                for invite_id, link in self.lookup_invitations(invite_ids).items()
                if link.survey_id == survey_id and link.state != DEFERRED}

    @abc.abstractmethod
    def invitations_for_contacts(self, survey_id: str, emails: list[str]) -> dict[str, list[InvitationRef]]:
        """The ``sent`` invitations of ``survey_id`` to these (lower-case) e-mail addresses.

        For responses that carry an e-mail address but no invitation id; like
        :meth:`answerable_invitations`, asked for every row of such an import.

        :returns: ``contact_email -> references`` in ``due_at`` order;
            addresses without a sent invitation are absent.
        """

    @abc.abstractmethod
    def add_responses(self, rows: "list[StoredResponse]") -> "list[StoredResponse]":
        """Store responses and their answers in one transaction; return those actually added.

        Each row's ``invitation`` is the :attr:`InvitationLink.key` of the
        invitation it answers; when it is ``None`` it is looked up by
        ``invite_id`` (an unknown one raises ``ValueError``). A response whose ``response_id`` is stored
        already, or whose invitation has a response already (also earlier in
        ``rows``), is not added: re-importing or re-fetching is harmless.

        A question's type is fixed once it has answers: rows whose
        ``question_types`` give a stored question another type are refused
        with :class:`~tierctl.errors.TierctlError` (nothing of the batch is
        stored), since old and new answers could not be counted together.
        """

    def prepare_responses(self, rows: "list[StoredResponse]") -> "list[StoredResponse]":
        """``rows`` for :meth:`add_responses`, with what a backend can work out before storing
        them: an import prepares its next batch in one thread while another stores the last one
        (:attr:`overlapped_writes`). Reads at most; the result must not be changed. The default
        returns ``rows``: :meth:`add_responses` takes any list."""
        return rows

    def with_keys(self, rows: "list[StoredResponse]") -> "list[StoredResponse]":
        """``rows`` with every missing ``invitation`` key looked up by ``invite_id`` (for
        :meth:`add_responses`); an unknown id raises ``ValueError``."""
        unkeyed = [r for r in rows if r.invitation is None]
        if not unkeyed:
            return rows
        links = self.lookup_invitations([r.invite_id for r in unkeyed])
        unknown = sorted({r.invite_id for r in unkeyed} - set(links))
        if unknown:
            raise ValueError(f"no invitation {unknown[0]!r} in the ledger: a response must answer one")
        return [r if r.invitation is not None else r._replace(invitation=links[r.invite_id].key) for r in rows]

    @abc.abstractmethod
    def question_types(self) -> dict[str, dict[str, str]]:
        """``survey_id -> question_id -> type`` of the questions the ledger holds answers to.

        A question's type is fixed once it has answers (see :meth:`add_responses`);
        ``tierctl validate`` compares the config with these.
        """

    def bulk_writes(self) -> AbstractContextManager[None]:
        """A ``with`` block in which many batches are written (an import): a backend may use
        more memory to write them faster. Nothing else changes."""
        from contextlib import nullcontext

        return nullcontext()

    @abc.abstractmethod
    def responses_for_account(self, account_id: str, survey_id: str | None = None) -> list[dict[str, Any]]:
        """An account's responses, oldest first, optionally of one survey.

        Each is a dict with the stored columns (``response_id``,
        ``invite_id``, ``survey_id``, ``tier``, ``account_id``,
        ``contact_email``, ``occasion``, ``due_day``, ``submitted_at``,
        ``source``, ``received_at``; times as datetimes) and ``answers``:
        ``question_id -> {"qtype", "score", "text"}``.
        """

    def response_of_invitation(self, invite_id: str) -> dict[str, Any] | None:
        """The response stored for one invitation (as :meth:`responses_for_account` gives it), or None.

        The built-in backends look it up by the invitation; this default (for a backend that
        predates it) reads the invitation's account's responses to that survey.
        """
        invitation = self.invitation(invite_id)
        if invitation is None:
            return None
        found = [r for r in self.responses_for_account(invitation["account_id"], invitation["survey_id"])
                 if r["invite_id"] == invite_id]
        return found[-1] if found else None

    @abc.abstractmethod
    def invitations_for_account(self, account_id: str, survey_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """An account's invitations (as :meth:`invitations` lists them), optionally of some surveys.

        Ordered by ``closes_at`` (for a pre-meeting survey: the meeting's
        start), then contact.
        """

    @abc.abstractmethod
    def account_ids(self) -> set[str]:
        """Every account id that has an invitation (for "did you mean" hints)."""

    # -- opt-outs and erasure ---------------------------------------------
    #
    # A suppression is an objection to being surveyed: the normalised address
    # (:func:`normalise_address`), its scope (every survey, or one), when, and
    # where it came from (:data:`SUPPRESSION_SOURCES`). Planning skips a
    # suppressed address for good; adding one also fails the address's
    # ``deferred`` and ``retry`` invitations in scope, so nothing already
    # queued goes out either. An erased address (:meth:`forget_contact`) stays
    # suppressed by its hash only.

    @abc.abstractmethod
    def add_suppression(self, address: str, survey_id: str | None, source: str, reason: str | None,
                        now: datetime, channel: str = "email") -> bool:
        """Suppress ``address`` for one survey (``survey_id``) or all (``None``), in one transaction.

        The address's ``deferred`` and ``retry`` invitations in scope become
        ``failed`` with the reason ``opted out``. With a text ``channel``
        (``sms``, ``whatsapp``) ``address`` is an E.164 number, keyed by
        :func:`phone_suppression_key`: only that channel stops (invitations
        are kept by e-mail address, so none is failed; planning skips them).

        :param source: one of :data:`SUPPRESSION_SOURCES`.
        :param channel: one of :data:`SUPPRESSION_CHANNELS`.
        :returns: whether it is new (an existing one keeps its time and source).
        """

    @abc.abstractmethod
    def remove_suppression(self, address: str, survey_id: str | None = None, channel: str = "email") -> int:
        """Lift suppressions of ``address`` on ``channel``: of one survey, or (``None``) every one;
        return how many."""

    @abc.abstractmethod
    def suppressions(self) -> list[dict[str, Any]]:
        """Every suppression, oldest first: dicts with ``address`` (``None`` once forgotten; a
        number for a text channel), ``address_hash``, ``survey_id`` (``None``: all surveys),
        ``source``, ``reason``, ``created_at``, ``channel``."""

    @abc.abstractmethod
    def suppressed(self) -> dict[str, frozenset[str]]:
        """What planning checks, in one query: ``key -> scopes``.

        The key is :func:`suppression_key` of the address (its hash, so erased
        addresses are still honoured), or :func:`phone_suppression_key` of a
        number on a text channel; a scope is a survey id or :data:`ALL_SURVEYS`.
        """

    # -- texts: what SMS and WhatsApp providers sent, and what became of it --------------------
    #
    # A text (SMS, WhatsApp message) is kept beside its invitation under the platform's message id,
    # with the number it went to and the contact's language: delivery receipts find it by that id,
    # and a reply ("9") finds the invitation it answers by the number. These methods are not
    # abstract so that a backend written before them keeps working (it keeps no texts).

    def record_texts(self, texts: list[tuple[str, str, str, str, str]], now: datetime) -> int:
        """Keep ``(invite_id, external_id, channel, phone, locale)`` of texts a provider accepted;
        an external id already kept is left alone. Returns how many are new."""
        return 0

    def record_delivery(self, external_id: str, status: str, error_code: str, now: datetime) -> bool:
        """A delivery receipt: the text ``external_id`` is now ``status`` (a word of
        :data:`DELIVERY_RANK`). Only a later stage is kept (a late ``sent`` leaves ``delivered``),
        so receipts are idempotent and may come in any order. Returns whether it changed anything."""
        return False

    def text_invitation(self, phone: str, survey_ids: list[str], now: datetime) -> dict[str, Any] | None:
        """The most recent text sent to ``phone`` for one of ``survey_ids`` whose invitation is
        ``sent`` and still open at ``now``: a dict with ``invite_id``, ``survey_id``, ``locale``,
        ``channel``, ``provider``; None when there is none."""
        return None

    def undelivered_texts(self, limit: int = 20) -> list[dict[str, Any]]:
        """Texts a receipt reported ``failed`` or ``undelivered``, newest first, at most ``limit``:
        dicts with ``survey_id``, ``contact_email``, ``channel``, ``delivery``, ``error_code``,
        ``updated_at`` (so someone can fix the numbers; tierctl does not resend them)."""
        return []

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """``survey_id -> {delivered, undelivered, failed, read: count}`` of texts (those receipts
        reported; a survey without any is missing)."""
        return {}

    @abc.abstractmethod
    def store_latest_responses(self, rows: "list[StoredResponse]") -> "list[StoredResponse]":
        """Store each row as *the* response to its invitation, replacing one stored before, in one
        transaction; return those stored.

        For respondents who change answers (the hosted form): the latest counts, once (the last
        row of an invitation in ``rows`` wins); the metrics rollup follows in the same transaction.
        Rows need their invitation's key (:attr:`InvitationLink.key`). A row whose ``response_id``
        is stored for another invitation is not stored.
        """

    @abc.abstractmethod
    def forget_contact(self, address: str, now: datetime) -> dict[str, int]:
        """Erase a person's personal data, keeping anonymous counts.

        Their invitations' address becomes a pseudonym (``forgotten-<hash>@erased.invalid``),
        free-text answers become ``[erased]`` (still counted as answered), and
        suppressions keep only the address's hash.

        :returns: ``{"invitations": n, "text_answers": n, "suppressions": n}``.
        """

    # -- lifetime ---------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; the ledger cannot be used afterwards."""

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
