"""The hosted form's engine, without HTTP: open a signed link, take a submission, unsubscribe.

:class:`SurveyDesk` is what the Starlette routes call (in a worker thread);
it is usable from Python and tested without a server. One ledger connection
per thread (SQLite connections are not shared between threads).
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tierctl.storage.ledger import DEFERRED
from tierctl.web.links import CSRF, FORM, read_token, signature

if TYPE_CHECKING:
    from tierctl.config.model import Config, Survey
    from tierctl.host.plugin_host import PluginHost
    from tierctl.storage.ledger import Ledger

log = logging.getLogger("tierctl.web")

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

        self.writer = BatchWriter(self.ledger, f"{config.base_dir}|{config.storage.url}")

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
        assert opened.invitation is not None
        for response in self.ledger().responses_for_account(opened.invitation["account_id"],
                                                            opened.invitation["survey_id"]):
            if response["invite_id"] == opened.invite_id:
                opened.answered = True
                return {qid: str(a["score"] if a["score"] is not None else a["text"] or "")
                        for qid, a in response["answers"].items()}
        return {}

    # -- answers ---------------------------------------------------------------------------------

    def submit(self, opened: Opened, form: Mapping[str, Any]) -> Submitted:
        """Check and store a submission through the same path as imports and collect (the
        ``response_received`` hook, the rollup); the latest submission replaces earlier ones."""
        from tierctl.responses.store import AnswerChecks, ResponseStore
        from tierctl.web.form import read_answers

        assert opened.survey is not None and opened.invite_id is not None
        from tierctl.i18n import use_language

        with use_language(self.config.organization.language):  # the form's own messages, in its language
            answers, errors, typed = read_answers(opened.survey, form)
        if errors:
            return Submitted(False, errors, typed)
        problems: list[str] = []
        now = self.clock()
        store = ResponseStore(self.ledger(), self.host, opened.invitation["survey_id"], WEB_SOURCE,  # type: ignore[index]
                              AnswerChecks(opened.survey), now, lambda ref, msg: problems.append(msg),
                              lambda msg: log.error("%s", msg))
        row = store.link_latest(opened.invite_id, answers, now, f"{WEB_SOURCE}:{opened.invite_id}")
        stored = row is not None and self.writer.store(row)
        if stored:
            store.stored([row])  # the response_received hook, in this thread (its ledger connection)
        else:
            log.warning("a submission could not be stored: %s", "; ".join(problems) or "refused by the ledger")
            return Submitted(False, {"": "; ".join(problems) or "could not be stored"}, typed)
        log.info("response stored for survey %s", opened.invitation["survey_id"])  # type: ignore[index]
        return Submitted(True, {}, typed)

    # -- opting out ------------------------------------------------------------------------------

    def unsubscribe(self, opened: Opened, only_this_survey: bool = False) -> bool:
        """Suppress the invitation's address (all surveys, or only its survey); source ``link``."""
        from tierctl.surveys.suppressions import opt_out

        inv = opened.invitation
        assert inv is not None
        survey_id = inv["survey_id"] if only_this_survey else None
        return opt_out(self.ledger(), inv["contact_email"], survey_id, "link",
                       f"unsubscribe link of survey {inv['survey_id']}", self.clock())

    def close(self) -> None:
        ledger = getattr(self._local, "ledger", None)
        if ledger is not None:
            ledger.close()
            self._local.ledger = None
