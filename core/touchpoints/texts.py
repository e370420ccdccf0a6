"""A message's text for one contact: the language picked, the jinja2 templates filled.

Templates see ``first_name``, ``contact_name``, ``account_name``,
``account_id``, ``tier`` (id), ``tier_name``, ``org_name``, ``role``,
``occasion`` and ``due_day``. The language is the contact's ``locale``
(``nl-BE``, then ``nl``), else the organisation's language, else the text
given without a language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierctl.errors import TierctlError
from tierctl.records import Invitation, OutgoingMessage

if TYPE_CHECKING:
    import jinja2

    from tierctl.config.model import Config, Message


def pick_language(texts: dict[str, str], locale: str, default: str) -> str:
    """The text for ``locale``: exact, then its language, then ``default``'s, then the one without a language."""
    if not texts:
        return ""
    tried = [locale, locale.replace("_", "-").split("-")[0], default, default.split("-")[0], ""]
    for lang in tried:
        if lang in texts:
            return texts[lang]
    return next(iter(texts.values()))


class MessageTexts:
    """Renders the messages of one config; compiled templates are kept for the run."""

    def __init__(self, config: "Config"):
        import jinja2

        self.config = config
        # Plain text (SMS, the e-mail's text part): no HTML escaping here; the e-mail's HTML part escapes it.
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                                      autoescape=False)
        self._compiled: dict[str, "jinja2.Template"] = {}

    def _template(self, text: str) -> "jinja2.Template":
        template = self._compiled.get(text)
        if template is None:
            template = self._compiled[text] = self.env.from_string(text)
        return template

    def values(self, invitation: Invitation) -> dict[str, Any]:
        name = invitation.contact_name.strip()
        tier = self.config.tiers.get(invitation.tier)
        return {"first_name": name.split()[0] if name else "", "contact_name": name,
                "account_name": invitation.account_name, "account_id": invitation.account_id,
                "tier": invitation.tier, "tier_name": tier.name if tier else invitation.tier,
                "org_name": self.config.organization.name, "role": invitation.role,
                "occasion": invitation.occasion, "due_day": invitation.due_day}

    def render(self, message_id: str, invitation: Invitation) -> OutgoingMessage:
        """The message as ``invitation``'s contact gets it.

        :raises TierctlError: a template uses an unknown variable (exit 2, nothing sent).
        """
        import jinja2

        message: "Message" = self.config.messages[message_id]
        default = self.config.organization.language
        values = self.values(invitation)
        where = f"messages.{message_id}"
        try:
            where = f"messages.{message_id}.subject"
            subject = self._template(pick_language(message.subject, invitation.locale, default)).render(values)
            where = f"messages.{message_id}.body"
            body = self._template(pick_language(message.body, invitation.locale, default)).render(values)
            variables: tuple[tuple[str, str], ...] = ()
            template_id = ""
            if message.template is not None:
                template_id = message.template.id
                where = f"messages.{message_id}.template.variables"
                variables = tuple((k, self._template(v).render(values)) for k, v in message.template.variables.items())
        except jinja2.TemplateError as exc:
            raise TierctlError(f"{self.config.path}: {where}: {exc}; the variables are "
                               f"{', '.join(sorted(values))}") from None
        return OutgoingMessage(message_id, message.channel, " ".join(subject.split()), body.strip(),
                               template_id, variables)
