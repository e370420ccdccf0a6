"""Signed links to the hosted form and the unsubscribe page.

A link carries the invite id and an HMAC-SHA256 of it under ``serve.secret``
(``<invite_id>.<signature>``), one signature per purpose, so ids can be
neither enumerated nor forged, and a form link does not open the
unsubscribe endpoint's door to anything else. Light on purpose: providers
import it for every invitation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierctl.config.model import Config

FORM = "form"
UNSUBSCRIBE = "unsubscribe"
CSRF = "csrf"
_SIG_CHARS = 27  # 160 bits of the HMAC, base64url
_TOKEN_RE = re.compile(r"^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{%d})$" % _SIG_CHARS)


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signature(secret: str | bytes, purpose: str, value: str) -> str:
    """The base64url HMAC-SHA256 of ``purpose:value`` under ``secret``, shortened to 160 bits."""
    digest = hmac.new(_key(secret), f"{purpose}:{value}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:_SIG_CHARS]


def make_token(secret: str | bytes, purpose: str, invite_id: str) -> str:
    """``<invite_id>.<signature>`` for a link."""
    return f"{invite_id}.{signature(secret, purpose, invite_id)}"


def read_token(secret: str | bytes, purpose: str, token: str) -> str | None:
    """The invite id a token signs, or ``None`` when it is malformed or its signature is wrong
    (compared in constant time)."""
    match = _TOKEN_RE.match(token or "")
    if match is None:
        return None
    invite_id, given = match.groups()
    return invite_id if hmac.compare_digest(given, signature(secret, purpose, invite_id)) else None


def serve_settings(config: "Config | None") -> tuple[str, str] | None:
    """``(base_url, secret)`` when the config has a ``serve:`` section, else ``None``."""
    serve = getattr(config, "serve", None) if config is not None else None
    if serve is None:
        return None
    return serve.base_url, serve.secret.get_secret_value()


def _signed_url(config: "Config", route: str, purpose: str, invite_id: str) -> str | None:
    settings = serve_settings(config)
    if settings is None:
        return None
    base, secret = settings
    return f"{base}/{route}/{make_token(secret, purpose, invite_id)}"


def hook_url(config: "Config | None", name: str) -> str | None:
    """Where ``tierctl serve`` receives ``name``'s webhooks (``<serve.base_url>/hooks/<name>``), or ``None``
    without a ``serve:`` section."""
    serve = getattr(config, "serve", None) if config is not None else None
    return None if serve is None else f"{serve.base_url.rstrip('/')}/hooks/{name}"


def form_url(config: "Config", invite_id: str) -> str | None:
    """The invitation's hosted form, or ``None`` without ``serve.base_url``."""
    return _signed_url(config, "s", FORM, invite_id)


def unsubscribe_url(config: "Config", invite_id: str) -> str | None:
    """The invitation's one-click unsubscribe address, or ``None`` without ``serve.base_url``."""
    return _signed_url(config, "u", UNSUBSCRIBE, invite_id)
