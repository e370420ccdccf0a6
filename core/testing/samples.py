"""Sample records for provider tests: a minimal config and invitations to send."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = ["invitation", "invitations", "sample_config", "SAMPLE_ANSWERS"]

#: Answers to the sample invitation's questions (see :func:`invitation`).
SAMPLE_ANSWERS = {"agenda": "Our renewal and the new API limits", "satisfaction": 4}


def sample_config(**organization: Any):
    """A minimal valid :class:`tierctl.config.model.Config` (Acme Analytics, one tier)."""
    from tierctl.config.model import Config

    org = {"name": "Acme Analytics", "timezone": "Europe/Amsterdam", "contact_email": "success@acme.example"}
    org.update(organization)
    return Config.model_validate({
        "version": 1,
        "organization": org,
        "tiers": {"advanced": {"name": "Advanced", "touch_model": "high-touch", "plans": ["enterprise"]}},
    })


def invitation(n: int = 1, **changes: Any):
    """Invitation number ``n``: ``inv-000n`` to ``contact<n>@globex.example``."""
    from tierctl.records import Invitation, Question

    values: dict[str, Any] = dict(
        invite_id=f"inv-{n:04d}", survey_id="pre-meeting", survey_title="Before our account review",
        tier="advanced", account_id="acc-42", account_name="Globex & Co", contact_email=f"contact{n}@globex.example",
        contact_name=f"Zoë Contact{n}", role="key-stakeholder", locale="en",
        occasion="meeting:uid-7@2027-03-04T14:00",
        due_at=datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc),
        closes_at=datetime(2027, 3, 4, 13, 0, tzinfo=timezone.utc),
        questions=(Question("agenda", "text", "What should we cover in our next call?"),
                   Question("satisfaction", "csat", "How satisfied are you so far?", (1, 5))),
        description="Three questions so we can prepare the call you need.",
        meeting_start=datetime(2027, 3, 4, 13, 0, tzinfo=timezone.utc),
    )
    values.update(changes)
    return Invitation(**values)


def invitations(count: int, start: int = 1) -> list:
    return [invitation(n) for n in range(start, start + count)]
