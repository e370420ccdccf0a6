"""One survey invitation as an e-mail: the message the ``outbox`` and ``smtp`` providers share.

:func:`build_message` turns an :class:`~tierctl.records.Invitation` into a
``multipart/alternative`` message (plain text and HTML) rendered from the
jinja2 templates ``email/invitation.txt`` and ``email/invitation.html``,
which users override like any other tierctl template (a locale-specific
``email/invitation.<locale>.txt`` is preferred when present, e.g.
``invitation.nl.html`` for ``nl-NL``). The message is written in the
contact's ``locale`` (``nl-BE`` -> ``nl`` -> the organisation's default;
:func:`message_language`): the templates' text through tierctl's catalogs,
the survey's title and questions in that language when the config has them,
and dates from CLDR. :func:`message_bytes` gives the exact
bytes on the wire.

The message is deterministic but for its ``Date``: the same invitation,
options and hand-over moment give the same bytes, byte for byte. The
``Date`` is the moment the message is handed over (the real clock, not the
invitation's due time: ``--now`` changes what is due, not when mail goes
out), the ``Message-ID`` and the MIME boundary derive from the invite id,
and both parts are quoted-printable (7-bit safe, no ``8BITMIME`` needed). So
the ``outbox`` writes exactly what ``smtp`` sends.

Address headers (From, To, Reply-To) are built by :func:`address_header`
and always parse back as exactly one address, whatever the display name
holds (commas, quotes, angle brackets, encoded-word look-alikes, 200
characters, any script): Python 3.11's header folder drops the quotes of a
long quoted display name, so a name that does not fit on one line is written
as RFC 2047 encoded words instead.

The survey link comes from the ``survey_url`` option, a link template for
any link-based survey tool; placeholders are URL-quoted::

    survey_url: https://form.typeform.com/to/AbC123#invite_id={invite_id}&tier={tier}

Placeholders: ``{survey} {invite_id} {tier} {account_id} {occasion} {email}
{locale}``; ``{invite_id}`` is required so responses can be joined to the
invitation (hidden field, custom variable, embedded data). ``{{`` and ``}}``
are literal braces.

A link-only platform's provider (``typeform``) builds each invitation's link
itself and hands the mail provider it names as ``mailer`` a
:class:`LinkedInvitation`: its ``survey_link`` is used as is, instead of the
mail provider's own ``survey_url`` (which still serves the surveys that name
the mail provider directly).
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from tierctl.providers import ProviderOptions
from tierctl.records import Invitation
from tierctl.web.links import form_url, serve_settings, unsubscribe_url as hosted_unsubscribe_url

if TYPE_CHECKING:
    from email.message import EmailMessage

    import jinja2

    from tierctl.config.model import Organization

#: Placeholders a ``survey_url`` or ``unsubscribe_url`` may use.
LINK_FIELDS = ("survey", "invite_id", "tier", "account_id", "occasion", "email", "locale")
#: Used when neither ``from_address`` nor ``organization.contact_email`` is set (outbox only).
FALLBACK_FROM = "surveys@example.invalid"
TEXT_TEMPLATE = "email/invitation.txt"
HTML_TEMPLATE = "email/invitation.html"
#: Templates of a contact-moment message (an invitation with ``message`` set).
MESSAGE_TEXT_TEMPLATE = "email/message.txt"
MESSAGE_HTML_TEMPLATE = "email/message.html"

_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
_DOT_ATOM_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*$")


class InvalidRecipient(ValueError):
    """This invitation's address cannot be put in a message (a permanent, per-invitation failure)."""


def check_link_template(value: str, *, require_invite_id: bool, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """Validate a link template; raises ``ValueError`` with a message for the config's author."""
    value = value.strip()
    if not re.match(rf"^({'|'.join(schemes)}):", value, re.IGNORECASE) or re.search(r"\s", value):
        raise ValueError(f"{value!r} is not a link; expected {' or '.join(s + ':' for s in schemes)}... without spaces")
    names = []
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}; write literal braces as {{{{ and }}}}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in LINK_FIELDS or spec or conversion:
            raise ValueError(f"unknown placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} in {value!r}; "
                             f"use {', '.join('{' + f + '}' for f in LINK_FIELDS)}")
        names.append(name)
    if require_invite_id and "invite_id" not in names:
        raise ValueError(f"{value!r} must contain {{invite_id}} so responses can be joined to the invitation, "
                         "e.g. https://form.example/s/abc?invite_id={invite_id}")
    return value


def link(template: str, invitation: "Invitation") -> str:
    """Fill a checked link template with the invitation's URL-quoted fields."""
    return template.format_map({k: quote(str(v), safe="") for k, v in invitation.fields().items()})


@dataclass(slots=True)
class LinkedInvitation(Invitation):
    """An invitation whose personal survey link another provider has already built.

    Link-only platforms (``typeform``) fill ``survey_link`` and pass these to
    the mail provider that delivers them; :func:`survey_link` prefers it to
    the mail provider's ``survey_url`` template.
    """

    survey_link: str = ""

    @classmethod
    def of(cls, invitation: Invitation, survey_link: str) -> "LinkedInvitation":
        """A copy of ``invitation`` that carries ``survey_link``."""
        from dataclasses import fields

        return cls(**{f.name: getattr(invitation, f.name) for f in fields(Invitation)}, survey_link=survey_link)


def survey_link(template: str | None, invitation: "Invitation") -> str | None:
    """The invitation's personal link: its own (:class:`LinkedInvitation`), else ``template`` filled."""
    own = invitation.survey_link if isinstance(invitation, LinkedInvitation) else ""
    if own:
        return own
    return link(template, invitation) if template else None


def _one_line(value: str | None) -> str | None:
    if value is None:
        return None
    value = _CONTROL_RE.sub(" ", value).strip()
    return value or None


class EmailOptions(ProviderOptions):
    """Message options shared by every provider that sends invitations as e-mail."""

    #: The loader asks for survey_url unless ``serve.base_url`` gives the hosted form.
    needs_survey_link: ClassVar[bool] = True

    survey_url: str | None = Field(None, description="Survey link template with {invite_id}, e.g. "
                                   "https://form.typeform.com/to/AbC#invite_id={invite_id}; "
                                   "also {survey} {tier} {account_id} {occasion} {email} {locale}. "
                                   "Optional with serve.base_url: then the hosted form (tierctl serve)")
    from_address: str | None = Field(None, description="Sender address; default organization.contact_email")
    from_name: str | None = Field(None, description="Sender name; default the organization's name")
    reply_to: str | None = Field(None, description="Where replies go, if not to from_address")
    subject: str | dict[str, str] | None = Field(
        None, description="Subject line, or one per language ({en: ..., nl: ...}: the contact's language, "
                          "else the organisation's); default the survey's title")
    unsubscribe_url: str | None = Field(None, description="List-Unsubscribe link (https: or mailto:), "
                                                          "same placeholders as survey_url")

    @field_validator("survey_url")
    @classmethod
    def _survey_url(cls, value: str | None) -> str | None:
        return None if value is None else check_link_template(value, require_invite_id=True)

    @field_validator("unsubscribe_url")
    @classmethod
    def _unsubscribe_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_link_template(value, require_invite_id=False, schemes=("http", "https", "mailto"))

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _EMAIL_RE.match(value) or not value.isascii():
            raise ValueError(f"{value!r} is not an e-mail address; expected name@domain.example (ASCII)")
        return value

    @field_validator("from_name", "subject")
    @classmethod
    def _single_line(cls, value: "str | dict[str, str] | None") -> "str | dict[str, str] | None":
        if isinstance(value, dict):
            from tierctl.i18n.text import LocalText

            LocalText.parse(value)  # language codes and strings, with its message
        for text in (value.values() if isinstance(value, dict) else [value]):
            if text is not None and _CONTROL_RE.search(text):
                raise ValueError("must be a single line of text")
        return value


# -- templates ---------------------------------------------------------------------------------

def email_template_environment(overrides: str | Path | None = None) -> "jinja2.Environment":
    """A jinja2 environment for the e-mail templates: ``overrides`` first, then tierctl's.

    Built-ins stay reachable as ``default:email/...`` so an override can extend
    them. HTML templates are autoescaped.
    """
    import jinja2

    from tierctl.i18n.translate import install
    from tierctl.render import builtin_templates

    builtin = str(builtin_templates())
    search = ([str(overrides)] if overrides else []) + [builtin]
    return install(jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(search),
            jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(builtin)}, delimiter=":"),
        ]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=overrides is not None,
    ))


@lru_cache(maxsize=1)
def _builtin_environment() -> "jinja2.Environment":
    return email_template_environment(None)


_escaping_overlays: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _escaping(env: "jinja2.Environment", name: str) -> "jinja2.Environment":
    """``env`` if it autoescapes ``name``, else an overlay that does: HTML is always escaped."""
    auto = env.autoescape
    if auto(name) if callable(auto) else auto:
        return env
    overlay = _escaping_overlays.get(env)
    if overlay is None:
        overlay = _escaping_overlays[env] = env.overlay(autoescape=True)
    return overlay


_i18n_overlays: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _translating(env: "jinja2.Environment") -> "jinja2.Environment":
    """``env`` if it has tierctl's gettext (``_``, ``{% trans %}``), else an overlay that does:
    the built-in templates are translated whichever environment a provider was given."""
    if "gettext" in env.globals and "one_stop" in env.filters:
        return env
    overlay = _i18n_overlays.get(env)
    if overlay is None:
        from tierctl.i18n.translate import install

        overlay = _i18n_overlays[env] = install(env.overlay(extensions=["jinja2.ext.i18n"]))
    return overlay


def _template(env: "jinja2.Environment", name: str, locale: str) -> "jinja2.Template":
    stem, ext = name.rsplit(".", 1)
    names = []
    if _LOCALE_RE.match(locale or ""):
        parts = re.split(r"[_-]", locale)
        names = [f"{stem}.{'-'.join(parts[:i])}.{ext}" for i in range(len(parts), 0, -1)]
    return env.select_template(names + [name])


# -- the message -------------------------------------------------------------------------------

def _ascii_address(addr: str) -> str:
    local, _, domain = addr.rpartition("@")
    if not local or not domain or _CONTROL_RE.search(addr) or " " in addr:
        raise InvalidRecipient(f"{addr!r} is not a valid e-mail address")
    if not local.isascii():
        raise InvalidRecipient(f"{addr!r} has a non-ASCII local part, which needs SMTPUTF8 (not supported)")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidRecipient(f"{addr!r} has a domain that is not a valid internationalised name") from None
    return f"{local}@{domain}"


def _zone(organization: "Organization | None"):
    from zoneinfo import ZoneInfo
    try:
        return ZoneInfo(organization.timezone) if organization is not None else timezone.utc
    except Exception:
        return timezone.utc


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _day(moment: datetime) -> str:
    """``Tuesday, 2 March 2027``, ``dinsdag 2 maart 2027``: in the message's language, from CLDR
    (never the process locale, so the message stays deterministic)."""
    from tierctl.i18n.formatting import format_date

    return format_date(moment, "full")


def _local_text(value: "str | dict[str, str] | None") -> Any:
    """An option written per language as the config's texts are (a :class:`LocalText`)."""
    from tierctl.i18n.text import LocalText

    return LocalText.parse(value) if isinstance(value, dict) else value


def message_language(invitation: "Invitation", organization: "Organization | None") -> str:
    """The language to write to this contact in: their ``locale`` (``nl-BE`` -> ``nl``) if tierctl
    or the config has text in it, else the organisation's default language."""
    from tierctl.i18n.text import reader_language

    return reader_language(invitation.locale, organization)


def _greeting_name(name: str, address: str) -> str:
    """The name to greet by: a person's name, not a role mailbox's local part (``IT-beheer``)."""
    local = address.rpartition("@")[0].lower()
    if not name or "@" in name or name.lower() == local or name.lower().replace(" ", "") == local:
        return ""
    return name


def resolved_from(options: EmailOptions, organization: "Organization | None") -> str:
    """The sender address: the option, else the organisation's contact address, else a placeholder."""
    return options.from_address or (organization.contact_email if organization is not None else None) \
        or FALLBACK_FROM


def message_id(invitation: "Invitation", from_address: str) -> str:
    """``<tierctl.<invite_id>@<sender domain>>``: the same invitation always gets the same id."""
    local = invitation.invite_id
    if not _DOT_ATOM_RE.match(local) or len(local) > 64:
        local = hashlib.sha256(local.encode("utf-8")).hexdigest()[:40]
    domain = from_address.rpartition("@")[2] or "tierctl.invalid"
    return f"<tierctl.{local}@{domain}>"


def template_values(invitation: "Invitation", options: EmailOptions,
                    organization: "Organization | None", config: Any = None) -> dict[str, Any]:
    """What the e-mail templates see (documented in ``templates/email/invitation.txt``)."""
    from dataclasses import replace

    from tierctl.i18n import current_language
    from tierctl.i18n.formatting import format_time
    from tierctl.i18n.text import in_language

    zone = _zone(organization)
    org_name = organization.name if organization is not None else ""
    name = _one_line(invitation.contact_name) or ""
    greet = _greeting_name(name, invitation.contact_email)
    language = current_language()
    default = organization.language if organization is not None else None

    def local(value: Any) -> Any:
        return in_language(value, language, default)

    title = local(invitation.survey_title)
    questions = tuple(replace(q, text=local(q.text), choices=tuple(local(c) for c in q.choices))
                      for q in invitation.questions)
    minutes = max(1, math.ceil(sum(1.0 if q.type == "text" else 0.5 for q in invitation.questions)))
    meeting = _aware(invitation.meeting_start).astimezone(zone) if invitation.meeting_start else None
    return {
        "invitation": invitation,
        "organization": organization,
        "org_name": org_name,
        "contact_name": name,
        "first_name": greet.split()[0] if greet else "",
        "account_name": invitation.account_name,
        "survey_title": title,
        "description": local(invitation.description),
        "questions": questions,
        "language": language,
        "question_count": len(invitation.questions),
        "minutes": minutes,
        "survey_url": survey_link(options.survey_url, invitation) or form_url(config, invitation.invite_id),
        # The hosted one-click page when tierctl serve runs (RFC 8058), else the option's link.
        "unsubscribe_url": hosted_unsubscribe_url(config, invitation.invite_id) if serve_settings(config)
        else link(options.unsubscribe_url, invitation) if options.unsubscribe_url else None,
        # A period that ends at midnight is open until the day before.
        "closes_on": _day((_aware(invitation.closes_at) - timedelta(seconds=1)).astimezone(zone)),
        "meeting_on": _day(meeting) if meeting else None,
        "meeting_time": format_time(meeting) if meeting else None,
        "timezone": str(zone),
        "from_name": options.from_name or org_name,
        "subject": local(_local_text(options.subject)) or title,
        "message": invitation.message,
        "body": invitation.message.body if invitation.message is not None else "",
    }


# An encoded word's payload: "=?utf-8?b?" + up to 52 base64 characters + "?=" is at most 64
# characters, so "Reply-To: " and one word fit in 78 (RFC 5322's recommended line length).
_EW_BYTES = 39
_HEADER_LINE = 78
#: Longer display names are cut (a header line may not pass 998 characters).
MAX_DISPLAY_NAME = 256


def _policy():
    """SMTP's policy, but headers stored with ``set_raw`` are sent exactly as written.

    Python 3.11 refolds a long address header and drops the quotes around a
    display name on the way (``"Dekker, Marieke" <a@b>`` becomes two
    addresses), so :func:`address_header` folds its own headers.
    """
    from email.policy import SMTP

    return SMTP.clone(refold_source="none")


def address_header(header: str, display_name: str | None, addr_spec: str) -> str:
    """The value of an address header (``From``, ``To``, ``Reply-To``) holding exactly one address.

    ``addr_spec`` is checked with :class:`email.headerregistry.Address`, so
    ``a@b.example>,<evil@x.example`` is refused. The display name (whitespace
    collapsed, at most :data:`MAX_DISPLAY_NAME` characters) is a quoted
    string when it is printable ASCII, folded at its spaces; otherwise (any
    other script, or text that looks like an encoded word) it is written as
    RFC 2047 base64 encoded words, split after spaces where possible. The
    result is already folded: store it with ``Message.set_raw`` and send it
    with :func:`message_bytes`.

    :raises InvalidRecipient: ``addr_spec`` is not one plain e-mail address.
    """
    import base64
    from email.headerregistry import Address

    try:
        spec = Address(addr_spec=addr_spec).addr_spec
    except (ValueError, IndexError, TypeError) as exc:
        raise InvalidRecipient(f"{addr_spec!r} is not one e-mail address ({exc})") from None
    if spec != addr_spec or not spec.isascii() or not spec.isprintable() or " " in spec:
        raise InvalidRecipient(f"{addr_spec!r} is not one plain e-mail address")
    name = " ".join((display_name or "").split())[:MAX_DISPLAY_NAME].strip()
    if not name:
        return spec
    if name.isascii() and name.isprintable() and "=?" not in name:
        quoted = str(Address(display_name=name, addr_spec=spec))
        if len(header) + 2 + len(quoted) <= _HEADER_LINE:
            return quoted
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        pieces = phrase.split(" ")
        # Folding at a space keeps it: CRLF before a space is invisible (RFC 5322 3.2.2).
        return _folded(header, [pieces[0]] + [" " + p for p in pieces[1:]] + [f" <{spec}>"])
    words: list[bytes] = []
    chunk = b""
    last_space = -1  # where the chunk could end after a space
    for char in name:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _EW_BYTES:
            cut = last_space if last_space > 0 else len(chunk)
            words.append(chunk[:cut])
            chunk = chunk[cut:]
            last_space = -1
        chunk += encoded
        if char == " ":
            last_space = len(chunk)
    words.append(chunk)
    # Whitespace between encoded words is not part of the name (RFC 2047 6.2); spaces of the name
    # travel inside the words.
    encoded_words = [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words if w]
    return _folded(header, [encoded_words[0]] + [" " + w for w in encoded_words[1:]] + [f" <{spec}>"])


def _folded(header: str, pieces: list[str]) -> str:
    """Pieces (all but the first starting with a space) joined, a line break before a piece that
    would pass the line length."""
    lines = [pieces[0]]
    width = len(header) + 2
    for piece in pieces[1:]:
        if width + len(lines[-1]) + len(piece) > _HEADER_LINE:
            lines.append(piece)
            width = 0
        else:
            lines[-1] += piece
    return "\n".join(lines)


def build_message(invitation: "Invitation", options: EmailOptions, templates: "jinja2.Environment | None",
                  organization: "Organization | None", config: Any = None,
                  handed_over: datetime | None = None) -> "EmailMessage":
    """The invitation as a ``multipart/alternative`` e-mail, deterministic but for ``Date``.

    ``Date`` is ``handed_over``, by default the real clock now: the moment
    the message leaves tierctl, not the invitation's due time.

    :raises InvalidRecipient: the contact's address cannot be used (per invitation).
    :raises jinja2.TemplateError: a template is broken (affects every invitation).
    """
    from email.message import EmailMessage
    from email.utils import format_datetime

    from tierctl.i18n import use_language

    env = _translating(templates) if templates is not None else _builtin_environment()
    text_name, html_name = TEXT_TEMPLATE, HTML_TEMPLATE
    with use_language(message_language(invitation, organization)):
        values = template_values(invitation, options, organization, config)
        if invitation.message is not None:
            # A contact moment: its own subject and body instead of a survey invitation.
            text_name, html_name = MESSAGE_TEXT_TEMPLATE, MESSAGE_HTML_TEMPLATE
            values["subject"] = invitation.message.subject
        text = _render(_template(env, text_name, invitation.locale), values)
        html = _render(_template(_escaping(env, html_name), html_name, invitation.locale), values)

    sender = resolved_from(options, organization)
    recipient = _ascii_address(invitation.contact_email)
    msg = EmailMessage(policy=_policy())
    msg.set_raw("From", address_header("From", values["from_name"], sender))
    msg.set_raw("To", address_header("To", values["contact_name"], recipient))
    if options.reply_to:
        msg.set_raw("Reply-To", address_header("Reply-To", None, options.reply_to))
    msg["Subject"] = _one_line(values["subject"]) or invitation.survey_id
    moment = handed_over if handed_over is not None else datetime.now(timezone.utc)
    msg["Date"] = format_datetime(_aware(moment).astimezone(timezone.utc).replace(microsecond=0), usegmt=True)
    msg["Message-ID"] = message_id(invitation, sender)
    msg["X-Tierctl-Invite-Id"] = _one_line(invitation.invite_id) or ""
    msg["X-Tierctl-Survey"] = _one_line(invitation.survey_id) or ""
    unsubscribe = list_unsubscribe(values["unsubscribe_url"], options, config)
    if unsubscribe:
        msg["List-Unsubscribe"] = unsubscribe
        if unsubscribe.startswith("<https://") or unsubscribe.startswith("<http://"):
            # RFC 8058: the mail client may unsubscribe with one POST, no page in between.
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(_crlf_free(text), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(_crlf_free(html), subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative repeats it on the sub-part
    # Quoted-printable never produces "=_", so this boundary cannot occur in a part.
    msg.set_boundary("=_tierctl_" + hashlib.sha256(invitation.invite_id.encode("utf-8")).hexdigest()[:32])
    return msg


def list_unsubscribe(url: str | None, options: EmailOptions, config: Any) -> str | None:
    """The ``List-Unsubscribe`` header: the web address first, then a mailto when configured."""
    links = []
    if url:
        links.append(f"<{url}>")
    serve = getattr(config, "serve", None)
    if serve is not None and serve.unsubscribe_mailto:
        links.append(f"<mailto:{serve.unsubscribe_mailto}?subject=unsubscribe>")
    return ", ".join(links) or None


def _render(template: "jinja2.Template", values: dict[str, Any]) -> str:
    import jinja2

    try:
        return template.render(values)
    except jinja2.TemplateError as exc:
        if not getattr(exc, "filename", None) and not getattr(exc, "name", None):
            exc.template_name = template.name  # type: ignore[attr-defined]  # for describe_template_error
        raise


def _crlf_free(body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return body if body.endswith("\n") else body + "\n"


def message_bytes(msg: "EmailMessage") -> bytes:
    """The message as sent over SMTP (CRLF line ends, 7-bit)."""
    return msg.as_bytes(policy=_policy())


def describe_template_error(exc: BaseException) -> str:
    """``email/invitation.html:12: 'foo' is undefined``, for a ProviderError message."""
    where = getattr(exc, "name", None) or getattr(exc, "template_name", None) or ""
    line = getattr(exc, "lineno", None)
    message = getattr(exc, "message", None) or str(exc)
    place = f" {where}{':' + str(line) if line else ''}" if where else ""
    return f"e-mail template{place}: {message}"


def render_for(provider: Any, invitation: "Invitation") -> "EmailMessage":
    """:func:`build_message` for a provider: a broken template becomes a ProviderError naming it.

    :raises InvalidRecipient: for this invitation only.
    """
    import jinja2

    from tierctl.providers import ProviderError

    try:
        config = provider.context.config
        return build_message(invitation, provider.options, provider.context.templates,
                             config.organization if config is not None else None, config)
    except jinja2.TemplateError as exc:
        raise ProviderError(provider.instance, describe_template_error(exc) + "; nothing was sent with it",
                            retry=False) from None
