"""Broken copies of the acme example provider, one breakage each, for tests/providers/test_broken_acme.py.

Each is the example's ``AcmeProvider`` with one promise broken in a way that surveys people
twice or loses answers; the contract suite must fail each of them (and pass the unbroken one).
They are subclasses rather than copies of the file, so each shows exactly what it breaks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tierctl.hookspecs import hookimpl
from tierctl.records import SendResult
from tierctl_acme.provider import AcmeClient, AcmeProvider


class PostsTwice(AcmeProvider):
    """POSTs each invitation twice (a retry wrapper around a request that already succeeded)."""

    def send(self, batch):
        results = super().send(batch)
        super().send(batch[:1])
        return results


class SendsBatchTwice(AcmeProvider):
    """Sends the whole batch twice."""

    def send(self, batch):
        super().send(batch)
        return super().send(batch)


class IgnoresRetryAfter(AcmeProvider):
    """Retries a 429 at once: Retry-After (and back-off) capped to nothing."""

    def __init__(self, instance, options, context):
        super().__init__(instance, options, context)
        self.http = AcmeClient(self, platform="Acme", max_retry_after=0,
                               headers={"Authorization": f"Bearer {options.api_key.get_secret_value()}"})


class NoPageDedup(AcmeProvider):
    """Returns every item of every page, so a page served again gives its responses twice."""

    def fetch_responses(self, survey_id, cursor):
        pages = []
        real = self.http.json

        def capture(*args, **kwargs):
            page = real(*args, **kwargs)
            pages.append(page or {})
            return page

        self.http.json = capture
        try:
            items, new_cursor = super().fetch_responses(survey_id, cursor)
        finally:
            del self.http.json
        by_id = {r.response_id: r for r in items}
        return [by_id[str(item["id"])] for page in pages for item in page.get("data", [])
                if str(item["id"]) in by_id], new_cursor


class ExclusiveCursor(AcmeProvider):
    """Asks for responses updated *after* the cursor's instant (``>`` instead of ``>=``): a response
    stamped with that very instant, stored after the fetch, is never collected."""

    def fetch_responses(self, survey_id, cursor):
        if cursor:
            since = datetime.fromisoformat(cursor.partition("|")[0])
            cursor = (since + timedelta(microseconds=1)).isoformat()
        return super().fetch_responses(survey_id, cursor)


class ForgetsIdsAtCursor(AcmeProvider):
    """Keeps the inclusive window but not the ids it returned at the cursor's instant, so the next
    fetch returns them again."""

    def fetch_responses(self, survey_id, cursor):
        items, new_cursor = super().fetch_responses(survey_id, cursor)
        return items, new_cursor.partition("|")[0] if new_cursor else new_cursor


class ErrorAfterPartialBatch(AcmeProvider):
    """Posts one invitation per request and lets a ProviderError out after some went out."""

    def send(self, batch):
        results = []
        for invitation in batch:
            results += super().send([invitation])
        return results


class RetriesAmbiguousTimeout(AcmeProvider):
    """Marks invitations whose request timed out after delivery as retry (the next run resends them)."""

    def send(self, batch):
        return [SendResult.failed(r.invite_id, r.reason or "timeout", retry=True) if r.unknown else r
                for r in super().send(batch)]


def plugin(cls):
    """A plugin registering ``cls`` as ``acme`` (for ``ProviderContract.plugins``)."""
    class Plugin:
        @staticmethod
        @hookimpl
        def register_providers(register):
            register("acme", cls)

    return {"acme": Plugin}
