"""Keep secrets out of text: one redactor for everything tierctl prints, logs or stores.

A config takes secrets from the environment (``${WEBHOOK_TOKEN}``) in any
option, not only in fields typed as secrets: a token in a webhook URL ends
up in error messages, JSON logs and the ledger's ``reason`` column unless
every such value is masked. The config loader records each value it
substituted; :class:`Redactor` replaces them (and their URL- and
JSON-escaped forms) with ``***`` in any text, and masks what URLs in the
text reveal: the password of ``user:password@``, and every query value.

Use it at the boundaries, not at each message: the CLI wraps its output
streams and log handler (:func:`redacting_stream`, :class:`RedactingFilter`),
the ledger redacts the reasons it stores.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable, TextIO
from urllib.parse import quote, quote_plus

MASK = "***"

#: Shorter values are not treated as secrets: masking "mail" or "2525" everywhere would garble
#: ordinary output, and a secret that short is no secret.
MIN_SECRET_LENGTH = 6

# A URL in running text: scheme://, then anything up to white space or a closing quote/bracket.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@?#]*)@")
_QUERY_VALUE = re.compile(r"([?&;][^=&#;?]*=)([^&#;]*)")


class Redactor:
    """Masks the given secret values, and the secrets URLs carry, in any text.

    ``redactor(text)`` returns the text with every secret replaced by
    ``***``; with no secrets it still masks URL passwords and query values.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        forms: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.update({secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
                          quote(secret, safe="/:@")})
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = tuple(sorted(forms, key=lambda s: (-len(s), s)))
        self._pattern = re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None

    def __bool__(self) -> bool:
        return True

    def __call__(self, text: str) -> str:
        if not isinstance(text, str):
            return text
        for secret in self.secrets:  # a few `in` tests are much faster than the pattern's search
            if secret in text:
                text = self._pattern.sub(MASK, text)  # type: ignore[union-attr]
                break
        if "://" in text:
            text = _URL.sub(_mask_url_match, text)
        return text

    def value(self, value: Any) -> Any:
        """``value`` with every string inside (dicts, lists, tuples) redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value


def _mask_url_match(match: re.Match[str]) -> str:
    url = match.group(0)
    trail = len(url) - len(url.rstrip(".,:;!?"))  # sentence punctuation after a URL is not part of it
    return mask_url(url[:len(url) - trail]) + url[len(url) - trail:]


def mask_url(url: str) -> str:
    """``url`` with the password of its user-info and every query value replaced by ``***``."""
    url = _USERINFO.sub(lambda m: m.group(1) + (m.group(2).split(":", 1)[0] + f":{MASK}"
                                                if ":" in m.group(2) else MASK) + "@", url)
    if "?" in url:
        head, _, rest = url.partition("?")
        url = head + _QUERY_VALUE.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), "?" + rest)
    return url


class RedactingFilter(logging.Filter):
    """A log filter that redacts a record's message and its extra text fields (before any formatter)."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor
        record.msg = redact(record.getMessage())
        record.args = None
        for key in ("reason", "contact", "counts", "error"):
            if hasattr(record, key):
                setattr(record, key, redact.value(getattr(record, key)))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _RedactingStream:
    """A text stream that redacts what is written to it; everything else goes to the stream it wraps."""

    def __init__(self, stream: TextIO, redactor: Redactor):
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written there would bypass the redaction
            raise AttributeError(name)
        return getattr(self._stream, name)


def redacting_stream(stream: TextIO, redactor: Redactor) -> TextIO:
    """``stream`` wrapped so that everything written to it is redacted (not wrapped twice)."""
    if isinstance(stream, _RedactingStream):
        stream = stream._stream
    return _RedactingStream(stream, redactor)  # type: ignore[return-value]


def stream_redactor(stream: TextIO) -> Redactor | None:
    """The redactor of a stream :func:`redacting_stream` wrapped, or None."""
    return stream._redactor if isinstance(stream, _RedactingStream) else None


def unwrap_stream(stream: TextIO) -> TextIO:
    """The stream :func:`redacting_stream` wrapped, or ``stream`` itself."""
    return stream._stream if isinstance(stream, _RedactingStream) else stream  # type: ignore[return-value]
