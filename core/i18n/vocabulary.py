"""Display names for the ids a config uses: channels, severities, statuses, touch models, hours.

``email`` reads "E-mail", ``whatsapp`` "WhatsApp", ``knowledge-base`` "Knowledge
base" (nl "Kennisbank"): names from this translated vocabulary, never made from
the slug when tierctl knows the word. A config's ``labels:`` overrides any of them
(and names plans); an id nobody names is shown as words (``account-review`` ->
"Account review").
"""

from __future__ import annotations

from typing import Any, Mapping

from tierctl.i18n.text import in_language
from tierctl.i18n.translate import N_, _, current_language

VOCABULARY = {
    # channels
    "email": N_("E-mail"), "e-mail": N_("E-mail"), "sms": N_("SMS"), "whatsapp": N_("WhatsApp"),
    "knowledge-base": N_("Knowledge base"), "community": N_("Community"), "chat": N_("Chat"),
    "phone": N_("Phone"), "portal": N_("Portal"), "screen-share": N_("Screen share"),
    "video": N_("Video call"), "in-person": N_("In person"), "forum": N_("Forum"), "webcare": N_("Webcare"),
    # severities
    "urgent": N_("Urgent"), "critical": N_("Critical"), "high": N_("High"), "normal": N_("Normal"),
    "low": N_("Low"),
    # customer statuses
    "onboarding": N_("Onboarding"), "active": N_("Active"), "at-risk": N_("At risk"), "churned": N_("Churned"),
    # meeting kinds and specialities seen in examples
    "account-review": N_("Account review"), "health-check": N_("Health check"),
    "integrations": N_("Integrations"), "security": N_("Security"), "billing": N_("Billing"),
}
TOUCH_LABELS = {"tech-touch": N_("Tech-touch (automated)"), "low-touch": N_("Low-touch"),
                "mid-touch": N_("Mid-touch"), "high-touch": N_("High-touch (personal)")}
HOURS_LABELS = {"business": N_("Business hours"), "extended": N_("Extended hours"), "24x7": N_("24/7")}


def words(value: Any) -> str:
    """``knowledge-base`` -> ``Knowledge base``: an id nobody named, as words."""
    text = str(value).replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def display_name(value: Any, labels: Mapping[str, Any] | None = None) -> str:
    """The name to show for ``value``: the config's label, the vocabulary's, or the id as words."""
    key = str(value)
    if labels and key in labels:
        return str(in_language(labels[key], current_language()))
    known = VOCABULARY.get(key.lower()) or TOUCH_LABELS.get(key) or HOURS_LABELS.get(key)
    return _(known) if known else words(value)


def word_from(table: Mapping[str, str], value: Any, otherwise: Any = words) -> str:
    """``value``'s entry of ``table`` (messages marked with ``N_``) in the current language, else
    ``otherwise(value)``."""
    known = table.get(str(value))
    return _(known) if known else otherwise(value)


def touch_label(value: Any) -> str:
    return word_from(TOUCH_LABELS, value)


def hours_label(value: Any) -> str:
    return word_from(HOURS_LABELS, value)
