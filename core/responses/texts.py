"""What a text provider's callbacks mean: delivery receipts, STOP, START and an NPS score by SMS.

:func:`act_on` takes one verified event (a provider read it from its
platform's signed callback: :meth:`tierctl.providers.Provider.webhook_events`)
and returns the text to answer the contact with (``""``: none):

* a :class:`~tierctl.records.DeliveryReceipt` moves the text's delivery status
  forward (``delivered``, ``failed``, ``undelivered``; never back, so
  receipts may come late, twice or out of order). A failed text is not
  sent again: the number may be wrong or switched off, and a resend to it
  costs money and does not help;
* a text that is one of the opt-out words (:data:`OPT_OUT_WORDS`, Twilio's:
  STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ...) suppresses that number on
  that channel (source ``provider``); e-mail still goes. :data:`OPT_IN_WORDS`
  (START, UNSTOP) lift it. No reply: the platform answers these itself;
* a lone score ``0``-``10`` (``9``, `` 9 ``, ``9.``) answers the sender's most
  recent open invitation of an NPS-only survey sent by text: stored through
  the path the hosted form uses (the same checks, the ``response_received``
  hook, the rollup), once per platform message id, and thanked in the contact's
  language. A later score replaces an earlier one (the latest counts, as on
  the hosted form). Anything else gets a short help text and is stored nowhere.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierctl.i18n import _, use_language
from tierctl.records import DeliveryReceipt, InboundText
from tierctl.surveys.suppressions import add_suppression, remove_suppression

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.storage.ledger import Ledger

log = logging.getLogger("tierctl.responses.texts")

#: Twilio's default opt-out keywords on long codes (../shared/providers-wave2.md, Advanced Opt-Out).
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
#: Twilio's opt-in keywords: the number may be texted again.
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})


def keyword(body: str) -> str:
    """The text as a keyword: trimmed, upper-case, a trailing ``.`` or ``!`` dropped."""
    return body.strip().rstrip(".!").strip().upper()


def score_of(body: str) -> int | None:
    """A lone whole number 0-10 (``9``, `` 9 ``, ``9.``), else None."""
    text = body.strip().rstrip(".!").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 2 and int(text) <= 10 else None


def nps_only_surveys(config: "Config") -> dict[str, str]:
    """``survey_id -> question id`` of the surveys whose one question is an NPS question."""
    return {sid: s.questions[0].id for sid, s in config.surveys.items()
            if len(s.questions) == 1 and s.questions[0].type == "nps"}


def act_on(config: "Config", ledger: "Ledger", host: Any, instance: str,
           event: DeliveryReceipt | InboundText, now: datetime) -> str:
    """Act on one verified event from provider instance ``instance``; the reply text (``""``: none)."""
    if isinstance(event, DeliveryReceipt):
        changed = ledger.record_delivery(event.external_id, event.status, event.error_code, now)
        log.info("receipt for text %s: %s%s (%s)", event.external_id, event.status,
                 f" error {event.error_code}" if event.error_code else "", "recorded" if changed else "no change")
        return ""
    word = keyword(event.body)
    if word in OPT_OUT_WORDS:
        added = add_suppression(ledger, event.sender, None, "provider", f"replied {word} by {event.channel}", now,
                                event.channel)
        log.info("opt-out: a number replied %s; no more %s to it (%s)", word, event.channel,
                 "new" if added else "already recorded")
        return ""
    if word in OPT_IN_WORDS:
        lifted = remove_suppression(ledger, event.sender, None, event.channel)
        log.info("opt-in: a number replied %s; %d %s suppression(s) lifted", word, lifted, event.channel)
        return ""
    surveys = nps_only_surveys(config)
    open_text = ledger.text_invitation(event.sender, sorted(surveys), now)
    if open_text is not None and open_text["provider"] != instance:
        open_text = None  # sent through another account: its replies go there
    language = _language(config, open_text["locale"] if open_text else "")
    score = score_of(event.body)
    with use_language(language):
        if open_text is None:
            log.info("text from a number with no open survey by text; answered with help")
            return _("There is no open survey for this number. Reply STOP to stop messages.")
        if score is None:
            return _("Please reply with one number from 0 to 10. Reply STOP to stop messages.")
        stored = _store_score(config, ledger, host, instance, open_text, surveys[open_text["survey_id"]],
                              score, event.message_id, now)
        if stored is None:
            return _("Your answer could not be saved. Please reply with one number from 0 to 10.")
        return _("Thank you! Your answer {score} is saved.").format(score=score)


def _language(config: "Config", locale: str) -> str:
    """The contact's language (``nl-BE`` -> ``nl``), else the organisation's."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language or config.organization.language


def _store_score(config: "Config", ledger: "Ledger", host: Any, instance: str, open_text: dict[str, Any],
                 question_id: str, score: int, message_id: str, now: datetime) -> bool | None:
    """Store the score as the invitation's answer, as the hosted form does: a later text replaces an
    earlier answer (the latest counts, once), the same text again (a platform's retry) changes
    nothing. True when stored, False when this text was stored before, None when refused."""
    from tierctl.responses.store import AnswerChecks, ResponseStore

    survey_id, invite_id = open_text["survey_id"], open_text["invite_id"]
    response_id = f"{instance}:text:{message_id}"
    earlier = ledger.response_of_invitation(invite_id)
    if earlier is not None and earlier["response_id"] == response_id:
        log.info("score by text for survey %s already stored (the same text again)", survey_id)
        return False
    problems: list[str] = []
    checks = AnswerChecks(config.surveys[survey_id])
    answers, bad = checks.check({question_id: score})
    store = ResponseStore(ledger, host, survey_id, instance, checks, now, lambda ref, msg: problems.append(msg),
                          lambda msg: log.error("%s", msg))
    row = None if bad else store.link_latest(invite_id, answers, now, response_id)
    if row is None:
        log.warning("score by text for survey %s refused: %s", survey_id, "; ".join(bad or problems))
        return None
    stored = ledger.store_latest_responses([row])
    store.stored(stored)
    log.info("score by text for survey %s %s", survey_id,
             "stored" if stored and earlier is None else "stored, replacing an earlier answer")
    return bool(stored)
