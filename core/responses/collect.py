"""``tierctl survey collect``: responses fetched from the providers that can fetch them.

Each provider instance is asked for what is new since its stored cursor
(opaque, per provider and survey); responses are checked, linked and stored
by :mod:`tierctl.responses.store`, de-duplicated by the provider's response id,
and only then is the new cursor saved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from tierctl.errors import TierctlError
from tierctl.records import RawResponse
from tierctl.responses.paging import MAX_PAGES, fetch_pages
from tierctl.responses.store import (BATCH_SIZE, MAX_KEPT_PROBLEMS, AnswerChecks, Pending, ResponseStore, as_utc,
                        refuse_type_changes, survey_to_answer)

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

log = logging.getLogger("tierctl.responses.store")


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
        """1 when a provider or a plugin hook failed or bad responses were skipped (listed), else 0."""
        return 1 if self.errors or self.hook_errors or self.bad else 0

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "duplicates": self.duplicates, "bad": self.bad, "errors": len(self.errors),
                "hook_errors": len(self.hook_errors)}


def collect(config: "Config", ledger: "Ledger", host: "PluginHost", since: datetime | None = None,
            now: datetime | None = None, survey: str | None = None,
            report: Callable[[str], None] | None = None, as_of: datetime | None = None) -> CollectResult:
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
    A response submitted after ``as_of`` (default ``now``; beyond a small
    clock skew) is bad: it cannot have been given yet.

    :param report: called with each bad response as it is found.
    """
    from tierctl.providers import ProviderError

    now = as_utc(now)
    result = CollectResult()
    if survey is not None:
        survey_to_answer(config, survey)
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

    from tierctl.surveys.instances import build_providers

    refuse_type_changes(config, ledger, [sid for sids in fetchable.values() for sid in sids])
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
                        _collect_one(config, ledger, host, provider, sid, since, now, fetch, result, report,
                                     as_of)
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
                 report: Callable[[str], None] | None, as_of: datetime | None = None) -> None:
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

    store = ResponseStore(ledger, host, survey_id, name, checks, now, problem, result.hook_errors.append,
                          as_of=as_of)
    cursor = since.astimezone(timezone.utc).isoformat() if since is not None else ledger.get_cursor(name, survey_id)
    fetch.cursor_before = fetch.cursor_after = cursor
    try:
        _fetch_pages(ledger, provider, survey_id, cursor, now, fetch, store, checks, problem)
    finally:
        if checks.ignored:
            from tierctl.util.suggest import did_you_mean

            notes = ", ".join(f"{qid!r}{did_you_mean(qid, checks.types)}" for qid in sorted(checks.ignored))
            result.notes.append(f"provider {name}, survey {survey_id}: answers to {notes} are not questions of "
                                f"the survey and were ignored; its questions are {', '.join(checks.types)}")


def _fetch_pages(ledger: "Ledger", provider: Any, survey_id: str, cursor: str | None, now: datetime,
                 fetch: FetchResult, store: ResponseStore, checks: AnswerChecks,
                 problem: Callable[[Any, str], None]) -> None:
    """Call the provider page by page (:func:`~tierctl.responses.paging.fetch_pages`), storing each
    page before saving its cursor."""
    name = provider.instance
    for page in fetch_pages(provider, survey_id, cursor, MAX_PAGES):
        fetch.calls += 1
        fetch.fetched += len(page.items)
        batch: list[Pending] = []
        for raw in page.fresh:
            pending = pending_from_raw(raw, name, checks, problem)
            if pending is not None:
                batch.append(pending)
            if len(batch) >= BATCH_SIZE:
                _store_into(store, batch, fetch)
        _store_into(store, batch, fetch)
        # Only now, with the responses committed, may the cursor move on.
        if page.moved:
            ledger.set_cursor(name, survey_id, page.cursor, now)  # type: ignore[arg-type]
            fetch.cursor_after = page.cursor


def _store_into(store: ResponseStore, batch: list[Pending], fetch: FetchResult) -> None:
    added, duplicates = store.store(batch)
    fetch.added += added
    fetch.duplicates += duplicates
    batch.clear()


def pending_from_raw(raw: RawResponse, instance: str, checks: AnswerChecks,
                      problem: Callable[[Any, str], None]) -> Pending | None:
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
    return Pending(ref, invite_id or None, email or None, submitted_at, answers, f"{instance}:{raw.response_id}")
