"""The hosted form's engine, without HTTP: open a signed link, take a submission, unsubscribe.

:class:`SurveyDesk` is what the Starlette routes call (in a worker thread);
it is usable from Python and tested without a server. One ledger connection
per thread (SQLite connections are not shared between threads).
"""

from __future__ import annotations

import hmac
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tierctl.storage.ledger import DEFERRED
from tierctl.web.links import CSRF, FORM, read_token, signature

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tierctl.config.model import Config, Survey
    from tierctl.host.plugin_host import PluginHost
    from tierctl.records import StoredResponse
    from tierctl.responses.store import ResponseStore
    from tierctl.storage.ledger import Ledger

log = logging.getLogger("tierctl.web")

#: Threads (per worker process) for the pages' ledger reads; writes go through the batch writer.
PAGE_THREADS = 4

#: The ``source`` of responses from the hosted form; their response id is ``web:<invite_id>``.
WEB_SOURCE = "web"


@dataclass
class Opened:
    """A link that was opened: its invitation (``None`` when the link is not valid), the survey,
    and why it cannot be answered (``"invalid"``, ``"closed"``), if so."""

    invite_id: str | None
    invitation: dict[str, Any] | None = None
    survey: "Survey | None" = None
    problem: str = ""
    answered: bool = False


@dataclass
class Submitted:
    """What a submission did: stored, or refused with ``errors`` (question id -> message) and what was
    typed (to show again)."""

    ok: bool
    errors: dict[str, str]
    typed: dict[str, str]


@dataclass
class Queued:
    """A checked submission handed to the batch writer; ``done`` completes when it is committed."""

    done: "Future[bool]"
    row: "StoredResponse"
    store: "ResponseStore"
    typed: dict[str, str]


class SurveyDesk:
    """Opens links, stores answers and opt-outs for one config."""

    def __init__(self, config: "Config", host: "PluginHost | None", clock: Callable[[], datetime] | None = None):
        assert config.serve is not None
        self.config = config
        self.host = host
        self.secret = config.serve.secret.get_secret_value()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._local = threading.local()
        from tierctl.web.writer import BatchWriter

        self.writer = BatchWriter(self.ledger, f"{config.base_dir}|{config.storage.url}", self.close_ledger)
        self._pool: ThreadPoolExecutor | None = None

    # -- the threads that serve pages ------------------------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The few threads the pages' ledger work runs in, each with its ledger connection: a
        connection per thread of the server's big pool meant dozens of ledger opens while the
        first requests waited (the p99 of bench_serve)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(PAGE_THREADS, thread_name_prefix="tierctl-web")
        return self._pool

    def warm(self, timeout: float = 30.0) -> None:
        """Start the page threads and open their ledger connections, and load what the first
        submission would otherwise load while clients wait (the checks, the catalog)."""

        def warm_thread() -> None:
            from tierctl.i18n import _, use_language
            from tierctl.responses.store import AnswerChecks, ResponseStore  # noqa: F401

            self.ledger()
            with use_language(self.config.organization.language):
                _("Please answer this question.")

        self._on_every_page_thread(warm_thread, timeout)

    def _on_every_page_thread(self, fn: Callable[[], None], timeout: float) -> None:
        barrier = threading.Barrier(PAGE_THREADS)

        def run() -> None:
            fn()
            barrier.wait(timeout)  # so that every thread of the pool runs one of these

        for future in [self.pool.submit(run) for _ in range(PAGE_THREADS)]:
            future.result(timeout)

    # -- the ledger, one connection per thread ---------------------------------------------------

    def ledger(self) -> "Ledger":
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            from tierctl.storage.opener import open_ledger

            ledger = self._local.ledger = open_ledger(self.config.storage.url, self.config.base_dir)
        return ledger

    def healthy(self) -> bool:
        """Whether the ledger answers (for ``GET /healthz``)."""
        try:
            self.ledger().recent_runs(1)
            return True
        except Exception:
            log.exception("health check: the ledger does not answer")
            return False

    # -- links -----------------------------------------------------------------------------------

    def csrf(self, invite_id: str) -> str:
        """The form's CSRF token: bound to the invitation, unknown without the server's secret."""
        return signature(self.secret, CSRF, invite_id)

    def csrf_ok(self, invite_id: str, given: Any) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given, self.csrf(invite_id))

    def open(self, token: str, purpose: str = FORM) -> Opened:
        """The invitation behind a signed link, and whether it can be answered now."""
        invite_id = read_token(self.secret, purpose, token)
        if invite_id is None:
            return Opened(None, problem="invalid")
        inv = self.ledger().invitation(invite_id)
        survey = self.config.surveys.get(inv["survey_id"]) if inv is not None else None
        if inv is None or survey is None or inv["state"] == DEFERRED:
            return Opened(invite_id, problem="invalid")
        opened = Opened(invite_id, inv, survey)
        if purpose == FORM:
            if inv["closes_at"] <= self.clock():
                opened.problem = "closed"
            elif not survey.questions:
                opened.problem = "invalid"
        return opened

    def previous_answers(self, opened: Opened) -> dict[str, str]:
        """What this invitation answered before, as form values (to change them)."""
        assert opened.invitation is not None and opened.invite_id is not None
        response = self.ledger().response_of_invitation(opened.invite_id)
        if response is None:
            return {}
        opened.answered = True
        return {qid: str(a["score"] if a["score"] is not None else a["text"] or "")
                for qid, a in response["answers"].items()}

    def language(self, opened: Opened) -> str:
        """The language of the pages for this link: the contact's locale kept with the invitation, or
        the nearest tierctl or the config speaks (``nl-BE`` -> ``nl``), else the organisation's."""
        from tierctl.i18n.catalogs import shipped_languages
        from tierctl.i18n.text import negotiate

        org = self.config.organization
        locale = (opened.invitation or {}).get("locale") or None
        if locale is None:
            return org.language
        return negotiate(locale, [*org.languages, *shipped_languages()], org.language)

    # -- answers ---------------------------------------------------------------------------------

    def submit(self, opened: Opened, form: Mapping[str, Any]) -> Submitted:
        """Check and store a submission through the same path as imports and collect (the
        ``response_received`` hook, the rollup); the latest submission replaces earlier ones."""
        begun = self.begin_submit(opened, form)
        if isinstance(begun, Submitted):
            return begun
        from tierctl.web.writer import WAIT_S

        begun.done.result(timeout=WAIT_S)
        return self.finish_submit(begun)

    def begin_submit(self, opened: Opened, form: Mapping[str, Any]) -> "Submitted | Queued":
        """Check a submission and queue it for the batch writer: the refusal (:class:`Submitted`), or a
        :class:`Queued` whose ``done`` future completes once the answer is committed. The app awaits
        that future on its event loop instead of holding a worker thread while the batch is written."""
        from tierctl.i18n import use_language
        from tierctl.responses.store import AnswerChecks, ResponseStore
        from tierctl.web.form import read_answers

        assert opened.survey is not None and opened.invite_id is not None and opened.invitation is not None
        with use_language(self.language(opened)):  # the form's own messages, in its language
            answers, errors, typed = read_answers(opened.survey, form)
        if errors:
            return Submitted(False, errors, typed)
        problems: list[str] = []
        now = self.clock()
        store = ResponseStore(self.ledger(), self.host, opened.invitation["survey_id"], WEB_SOURCE,
                              AnswerChecks(opened.survey), now, lambda ref, msg: problems.append(msg),
                              lambda msg: log.error("%s", msg))
        row = store.link_latest(opened.invite_id, answers, now, f"{WEB_SOURCE}:{opened.invite_id}")
        if row is None:
            log.warning("a submission could not be stored: %s", "; ".join(problems) or "refused by the ledger")
            return Submitted(False, {"": "; ".join(problems) or "could not be stored"}, typed)
        return Queued(self.writer.queue(row), row, store, typed)

    def finish_submit(self, queued: "Queued") -> Submitted:
        """After the write: the ``response_received`` hook (when a plugin has one), and the outcome."""
        stored = queued.done.exception() is None and bool(queued.done.result())
        if not stored:
            log.warning("a submission could not be stored: refused by the ledger")
            return Submitted(False, {"": "could not be stored"}, queued.typed)
        if queued.store.hooks:
            queued.store.ledger = self.ledger()  # this thread's connection
            queued.store.stored([queued.row])
        return Submitted(True, {}, queued.typed)

    def needs_thread_to_finish(self, queued: "Queued") -> bool:
        """Whether :meth:`finish_submit` does blocking work (a plugin's ``response_received`` hook)."""
        return bool(queued.store.hooks)

    # -- opting out ------------------------------------------------------------------------------

    def unsubscribe(self, opened: Opened, only_this_survey: bool = False) -> bool:
        """Suppress the invitation's address (all surveys, or only its survey); source ``link``."""
        from tierctl.surveys.suppressions import opt_out

        inv = opened.invitation
        assert inv is not None
        survey_id = inv["survey_id"] if only_this_survey else None
        return opt_out(self.ledger(), inv["contact_email"], survey_id, "link",
                       f"unsubscribe link of survey {inv['survey_id']}", self.clock())

    def close(self, timeout: float = 30.0) -> None:
        """Store the queued submissions, stop the writer and page threads, and close every ledger
        connection (each closed in the thread that opened it): the server's shutdown, or an app
        embedded in a program that goes on."""
        self.writer.close(timeout)
        pool = self._pool
        if pool is not None:
            try:
                self._on_every_page_thread(self.close_ledger, timeout)
            except Exception:  # a page thread still busy: its connection closes as the thread ends
                log.warning("closing the page threads' ledger connections took over %.0f s", timeout)
            finally:
                self._pool = None
                pool.shutdown(wait=True)
        self.close_ledger()

    def close_ledger(self) -> None:
        """Close this thread's ledger connection (a page thread keeps its own while the server runs)."""
        ledger = getattr(self._local, "ledger", None)
        if ledger is not None:
            ledger.close()
            self._local.ledger = None
