"""What SurveyMonkey's answers mean, for the ``surveymonkey`` provider: bulk-recipient outcomes,
response values and times, the read cursor, and error texts in words (with the token scrubbed)."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from tierctl.records import SendResult

_TAG_RE = re.compile(r"<[^>]*>")

EXISTING = ("already a recipient of this run's SurveyMonkey collector (another invitation of this survey went to "
             "the same address in this run); the next run sends it through a new collector")
_BULK_REASONS = {
    "invalids": ("SurveyMonkey rejected the address as invalid", False),
    "bounced": ("the address bounced before; SurveyMonkey does not e-mail it", False),
    "opted_out": ("the contact opted out of SurveyMonkey e-mails", False),
    "existing": (EXISTING, True),
    "duplicate": ("SurveyMonkey saw the address twice in one request; the next run sends it", True),
}


def bulk_failure(invite_id: str, kind: str) -> SendResult:
    reason, retry = _BULK_REASONS.get(kind, (f"SurveyMonkey did not add the recipient ({kind})", True))
    # SurveyMonkey's opt-outs and bounces are the person's: tierctl suppresses the address too.
    return SendResult.failed(invite_id, reason, retry=retry, opted_out=kind in ("opted_out", "bounced"))


def read_bulk(answer: Any) -> dict[str, tuple[str, str | None]]:
    """``{address (case-folded): (list name, recipient id)}`` from a recipients/bulk answer."""
    data = answer.get("data", answer) if isinstance(answer, dict) else {}
    outcome: dict[str, tuple[str, str | None]] = {}
    for kind in ("succeeded", "invalids", "existing", "bounced", "opted_out", "duplicate"):
        for entry in data.get(kind) or []:
            if isinstance(entry, dict):
                email, rid = entry.get("email"), entry.get("id")
            else:
                email, rid = entry, None
            if isinstance(email, str) and email.strip():
                outcome.setdefault(email.strip().casefold(), (kind, str(rid) if rid is not None else None))
    return outcome


def split_name(name: str) -> tuple[str, str]:
    parts = " ".join((name or "").split()).split(" ", 1)
    first = parts[0] if parts else ""
    last = parts[1] if len(parts) > 1 else ""
    return first[:50], last[:50]


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def new_cursor(since: datetime | None, seen: dict[str, datetime],
                ordered: list[tuple[datetime, dict[str, Any]]], overlap: timedelta, old: str | None) -> str | None:
    """The newest ``date_modified`` and the responses inside the overlap window before it."""
    if not ordered:
        return old
    newest = max(ordered[-1][0], since) if since is not None else ordered[-1][0]
    window = newest - overlap
    keep = {rid: t for rid, t in seen.items() if t >= window}
    keep.update((str(item["id"]), t) for t, item in ordered if t >= window)
    return json.dumps({"modified": newest.isoformat(),
                       "seen": {rid: t.isoformat() for rid, t in sorted(keep.items())}}, separators=(",", ":"))


def value_of(entry: Any) -> str | None:
    """A metadata value: ``{"type": "string", "value": "x"}`` or a plain string."""
    if isinstance(entry, dict):
        entry = entry.get("value")
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        entry = str(entry)
    return entry.strip() if isinstance(entry, str) and entry.strip() else None


def answer_value(answer: dict[str, Any]) -> Any:
    for key in ("simple_text", "text", "choice_id"):
        value = answer.get(key)
        if value not in (None, ""):
            return value
    return None


def norm(text: str) -> str:
    return " ".join(html.unescape(_TAG_RE.sub(" ", text)).split()).casefold()


def error_of(response: Any, token: str) -> tuple[str, str]:
    """``(error id, "name: message")`` from a SurveyMonkey error body; never the token."""
    error_id, text = "", ""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error_id = str(error.get("id") or "")
            text = ": ".join(str(p) for p in (error.get("name"), error.get("message")) if p)
    except ValueError:
        pass
    if not text:
        text = excerpt(response, token)
    text = " ".join(text.split())[:240]
    return error_id, (f"(error {error_id}) {text}" if error_id else text).replace(token, "***")


def excerpt(response: Any, token: str) -> str:
    text = " ".join(response.content[:300].decode("utf-8", "replace").split())[:200]
    return text.replace(token, "***") or (response.reason or "")


def auth_message(error_id: str, status: int, text: str) -> str:
    what = {"1010": "no access token reached SurveyMonkey", "1011": "SurveyMonkey does not know the access token",
            "1012": "the access token's account cannot be used", "1013": "the access token was revoked"}
    return (f"(surveymonkey) {what.get(error_id, 'SurveyMonkey refused the access token')} "
            f"(HTTP {status} {text}). Create a new access token for the app at "
            "https://developer.surveymonkey.com/apps/ (or repeat the OAuth flow), put it in the environment "
            "variable the token option names (e.g. SM_TOKEN) and run again")


def permission_message(error_id: str, text: str, base: str) -> str:
    if error_id == "1018":
        return (f"(surveymonkey) the account lives in another SurveyMonkey data centre ({text}): set base_url to "
                f"the access_url your OAuth answer gave plus /v3, e.g. https://api.eu.surveymonkey.com/v3 "
                f"(now {base})")
    return (f"(surveymonkey) SurveyMonkey refused the request ({text}): grant the app the scopes "
            "View Surveys, Create/Modify Collectors and View Response Details, or use an account whose plan "
            "allows them")


def path_of(url: str) -> str:
    return urlsplit(url).path
