"""The ``zendesk`` helpdesk: SLA policies per tier, tier tags on organisations, CSAT ratings.

Config::

    helpdesks:
      zendesk:
        plugin: zendesk
        subdomain: acme                       # https://acme.zendesk.com (or base_url: ...)
        email: ops@acme.example               # with token: an API token (Basic email/token:TOKEN)
        token: ${ZENDESK_API_TOKEN}
        # oauth_token: ${ZENDESK_OAUTH_TOKEN} # instead of email + token (Bearer)
        priorities: {urgent: urgent, high: high, normal: normal, low: low}   # severity -> Zendesk priority
        business_day_hours: 8                 # "1 business day" = 8 business hours

Each tier becomes one SLA policy (``POST /api/v2/slas/policies``): title ``"<Tier name> (tierctl)"``,
filter ``current_tags includes tier_<id>`` (Zendesk copies an organisation's tags onto its
tickets, so tagging the organisation puts its tickets under the policy), and one
``first_reply_time`` metric per severity: the target in minutes, ``business_hours`` true for
``N business hours|days``. ``best effort`` sets no target. A target in months or in
fractions of a minute cannot be expressed and is an error.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, Literal

from pydantic import Field, SecretStr, model_validator

from tierctl.helpdesks import (CsatBenchmark, Helpdesk, HelpdeskOptions, Organization, Policy, PolicyTarget,
                               Rating, Translation)

if TYPE_CHECKING:
    from tierctl.config.model import Tier

    from tierctl.plugins.zendesk_api import ZendeskClient

PRIORITIES = ("low", "normal", "high", "urgent")
METRIC = "first_reply_time"


class ZendeskOptions(HelpdeskOptions):
    subdomain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                  description="Your Zendesk subdomain: acme for https://acme.zendesk.com")
    base_url: str | None = Field(None, pattern=r"^https?://[^\s/]+/?$",
                                 description="Instead of subdomain: the account's address (a host name of your own)")
    email: str | None = Field(None, description="The admin whose API token this is")
    token: SecretStr | None = Field(None, description="An API token (Admin Center > Apps and integrations > APIs)")
    oauth_token: SecretStr | None = Field(None, description="An OAuth access token, instead of email + token")
    priorities: dict[str, Literal["low", "normal", "high", "urgent"]] = Field(
        default_factory=dict, description="Severity -> Zendesk priority; a severity named like a priority "
                                          "maps to it without an entry")
    business_day_hours: float = Field(8, gt=0, le=24, description="Business hours in a business day")
    tag_prefix: str = Field("tier_", pattern=r"^[a-z0-9_-]*$", description="Tier tags: <prefix><tier id>")
    timeout: float = Field(30, gt=0, le=300)
    max_retries: int = Field(5, ge=0, le=20, description="Retries of a 429 (after Retry-After), a 5xx or a "
                                                          "dropped connection")
    backoff_factor: float = Field(0.5, ge=0, le=30, description="Seconds before the first retry without "
                                                                "Retry-After; doubled each time")
    max_retry_after: float = Field(60, gt=0, le=600, description="Longest wait for one Retry-After")

    @model_validator(mode="after")
    def _where_and_who(self) -> "ZendeskOptions":
        if (self.subdomain is None) == (self.base_url is None):
            raise ValueError("give subdomain (acme for https://acme.zendesk.com) or base_url, not both")
        if self.oauth_token is None and (self.token is None or not self.email):
            raise ValueError("give email and token (an API token), or oauth_token")
        return self


class ZendeskHelpdesk(Helpdesk):
    """Zendesk Support: SLA policies, organisation tags, satisfaction ratings (API v2)."""

    name = "zendesk"
    description = "Zendesk Support: SLA policies per tier, tier tags on organisations, CSAT ratings"
    Options = ZendeskOptions
    options: ZendeskOptions
    # Zendesk's customer satisfaction index, global average (../shared/domain.md, section 5).
    csat_benchmark = CsatBenchmark(86.0, "Zendesk customer satisfaction index", 2012, "Zendesk global average")

    def __init__(self, options: ZendeskOptions, config: Any, instance: str):
        super().__init__(options, config, instance)
        self._client: "ZendeskClient | None" = None

    @property
    def client(self) -> "ZendeskClient":
        if self._client is None:
            from tierctl.plugins.zendesk_api import ZendeskClient

            o = self.options
            self._client = ZendeskClient(self.instance, o, o.base_url or f"https://{o.subdomain}.zendesk.com")
        return self._client

    def tier_tag(self, tier_id: str) -> str:
        return f"{self.options.tag_prefix}{tier_id}".replace("-", "_")

    # -- translation --------------------------------------------------------------------------

    def policy_for(self, tier_id: str, tier: "Tier") -> Translation:
        problems: list[tuple[tuple[str, ...], str]] = []
        targets = []
        mapping = {**{p: p for p in PRIORITIES}, **self.options.priorities}
        for severity, target in tier.response_targets.items():
            path = ("tiers", tier_id, "response_targets", severity)
            priority = mapping.get(severity)
            if priority is None:
                problems.append((path, f"severity {severity!r} has no Zendesk priority; add it to helpdesks."
                                       f"{self.instance}.priorities, e.g. {{{severity}: high}} (priorities: "
                                       f"{', '.join(PRIORITIES)})"))
                continue
            if target.kind == "best_effort":
                continue
            minutes, why = self._minutes(target)
            if why:
                problems.append((path, f"{target.text!r} cannot be a Zendesk SLA target: {why}"))
                continue
            targets.append(PolicyTarget(priority, minutes, target.kind == "business"))
        priorities = [t.priority for t in targets]
        for p in sorted({p for p in priorities if priorities.count(p) > 1}):
            problems.append((("tiers", tier_id, "response_targets"),
                             f"two severities map to Zendesk priority {p!r}; a policy has one target per priority"))
        if problems:
            return Translation(None, problems)
        return Translation(Policy(tier_id, f"{tier.name} (tierctl)", self.tier_tag(tier_id), tuple(sorted(targets)),
                                  f"First reply targets of the {tier.name} tier, kept by tierctl helpdesk sync"))

    def _minutes(self, target: Any) -> tuple[int, str]:
        duration = target.duration
        if duration.months:
            return 0, "months have no fixed length; use days or hours (e.g. 30d)"
        seconds = duration.seconds
        if target.kind == "business":
            text = target.text.lower()
            if "day" in text:  # N business days: N x the business day
                seconds = seconds / 86400 * self.options.business_day_hours * 3600
        if seconds % 60:
            return 0, "Zendesk targets are whole minutes"
        return int(seconds // 60), ""

    # -- reading ------------------------------------------------------------------------------

    def policies(self) -> list[Policy]:
        out = []
        for item in self.client.offset_pages("/api/v2/slas/policies", "sla_policies"):
            tag = _policy_tag(item.get("filter") or {})
            targets = tuple(sorted(PolicyTarget(m["priority"], int(m["target"]), bool(m.get("business_hours")))
                                   for m in item.get("policy_metrics") or [] if m.get("metric") == METRIC))
            out.append(Policy("", item.get("title", ""), tag or "", targets, item.get("description") or "",
                              str(item["id"])))
        return out

    def organizations(self) -> Iterator[Organization]:
        for item in self.client.cursor_pages("/api/v2/organizations", "organizations"):
            yield Organization(str(item["id"]), item.get("name") or "", item.get("external_id"),
                               tuple(item.get("tags") or ()))

    def ratings(self, start: datetime | None) -> Iterator[Rating]:
        params: dict[str, Any] = {"score": "received"}
        if start is not None:
            params["start_time"] = int(start.timestamp())
        for item in self.client.cursor_pages("/api/v2/satisfaction_ratings", "satisfaction_ratings", params):
            score = str(item.get("score") or "")
            if score not in ("good", "bad"):
                continue
            created = _time(item.get("created_at"))
            org = item.get("organization_id")
            yield Rating(str(item["id"]), None if org is None else str(org), score, created,
                         _time(item.get("updated_at")) if item.get("updated_at") else created)

    # -- writing ------------------------------------------------------------------------------

    def create_policy(self, policy: Policy) -> str:
        answer = self.client.call("POST", "/api/v2/slas/policies", {"sla_policy": _policy_body(policy)})
        return str(answer["sla_policy"]["id"])

    def update_policy(self, remote_id: str, policy: Policy) -> None:
        self.client.call("PUT", f"/api/v2/slas/policies/{int(remote_id)}", {"sla_policy": _policy_body(policy)})

    def set_organization_tags(self, organization: Organization, tags: tuple[str, ...]) -> None:
        self.client.call("PUT", f"/api/v2/organizations/{int(organization.remote_id)}",
                         {"organization": {"tags": list(tags)}})


def _policy_body(policy: Policy) -> dict[str, Any]:
    return {"title": policy.title, "description": policy.description,
            "filter": {"all": [{"field": "current_tags", "operator": "includes", "value": policy.tag}], "any": []},
            "policy_metrics": [{"priority": t.priority, "metric": METRIC, "target": t.minutes,
                                "business_hours": t.business_hours} for t in policy.targets]}


def _policy_tag(filter_: dict[str, Any]) -> str | None:
    """The tag of a filter that is exactly ``current_tags includes <one tag>`` (tierctl's own), else None."""
    conditions = filter_.get("all") or []
    if len(conditions) != 1 or filter_.get("any"):
        return None
    c = conditions[0]
    value = str(c.get("value") or "")
    if c.get("field") == "current_tags" and c.get("operator") == "includes" and value and " " not in value:
        return value
    return None


def _time(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
