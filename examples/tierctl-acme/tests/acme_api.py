"""A double of the Acme Surveys API on 127.0.0.1, for the provider's tests.

It keeps invitations and responses in memory and answers in Acme's
documented shapes (bearer auth, per-invitation results, paged responses
sorted by ``updated_at``). Faults are injected with the scripting every
:class:`tierctl.testing.HttpServer` has (``script``, ``when``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierctl.testing import HttpDouble, Reply, route


# [docs:double]
class AcmeApi(HttpDouble):
    """Acme Surveys, as far as the provider uses it."""

    PAGE = 2  # small pages, so every test crosses page boundaries

    def __init__(self, api_key: str = "acme-test-key-0123456789"):
        super().__init__()
        self.api_key = api_key
        self.invitations: dict[str, dict[str, Any]] = {}  # Acme id -> invitation as posted
        self.responses: list[dict[str, Any]] = []

    def _unauthorized(self, request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply.json({"error": {"code": "unauthorized", "message": "invalid API key"}}, 401)
        return None

    @route("POST", "/v1/surveys/{survey}/invitations")
    def invite(self, request, survey):
        if denied := self._unauthorized(request):
            return denied
        results = []
        with self.lock:
            for index, item in enumerate(request.json()["invitations"]):
                if "@" not in item["email"] or item["email"].startswith("bounce"):
                    results.append({"index": index, "status": "rejected",
                                    "error": {"code": "invalid_email", "message": "address rejected"}})
                    continue
                acme_id = f"ai_{len(self.invitations) + 1}"
                self.invitations[acme_id] = {**item, "survey": survey}
                results.append({"index": index, "status": "accepted", "id": acme_id})
        return {"results": results}

    @route("GET", "/v1/surveys/{survey}/responses")
    def list_responses(self, request, survey):
        if denied := self._unauthorized(request):
            return denied
        since = request.query.get("updated_since")
        start = int(request.query.get("page_token") or 0)
        with self.lock:
            rows = [r for r in self.responses if r["survey"] == survey
                    and (since is None or datetime.fromisoformat(r["updated_at"]) >= datetime.fromisoformat(since))]
        rows.sort(key=lambda r: datetime.fromisoformat(r["updated_at"]))
        page = rows[start:start + self.PAGE]
        more = start + self.PAGE < len(rows)
        return {"data": [{k: v for k, v in r.items() if k != "survey"} for r in page],
                "next_page_token": str(start + self.PAGE) if more else None}

    def deliveries(self) -> list[str]:
        """tierctl invite ids Acme was asked to invite, one entry per invitation stored (repeats kept)."""
        with self.lock:
            return [item["metadata"]["invite_id"] for item in self.invitations.values()]

    # -- what a respondent does ----------------------------------------------------------

    def respond(self, invite_id: str, answers: dict[str, Any]) -> dict[str, Any]:
        """The invitee with tierctl's ``invite_id`` answers the survey."""
        with self.lock:
            acme_id, invitation = next((k, v) for k, v in self.invitations.items()
                                       if v["metadata"]["invite_id"] == invite_id)
            now = self.now().isoformat(timespec="microseconds")  # the kit may freeze it
            response = {"id": f"resp_{len(self.responses) + 1}", "survey": invitation["survey"],
                        "invitation_id": acme_id, "email": invitation["email"],
                        "metadata": invitation["metadata"], "submitted_at": now, "updated_at": now,
                        "answers": [{"question": q, "value": v} for q, v in answers.items()]}
            self.responses.append(response)
            return response
# [/docs:double]
