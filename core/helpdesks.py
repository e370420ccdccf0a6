"""The helpdesk interface: what a helpdesk plugin (Zendesk built in; Freshdesk or others as
third-party packages) implements for ``tierctl helpdesk sync`` and ``import-csat``.

A plugin registers a :class:`Helpdesk` subclass with the ``register_helpdesks`` hook; a
config names an instance under ``helpdesks:``::

    helpdesks:
      zendesk: {plugin: zendesk, subdomain: acme, email: ops@acme.example, token: "${ZENDESK_TOKEN}"}

tierctl plans: it asks the helpdesk for the policy each tier needs (:meth:`Helpdesk.policy_for`,
which says what the helpdesk cannot express), reads what is there (:meth:`Helpdesk.policies`,
:meth:`Helpdesk.organizations`), compares, and only when nothing is wrong calls the write
methods. A helpdesk never decides what to change; it translates and carries out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from tierctl.config.model import Config, Tier

__all__ = ["CsatBenchmark", "Helpdesk", "HelpdeskOptions", "Organization", "Policy", "PolicyTarget", "Rating", "Translation"]


class HelpdeskOptions(BaseModel):
    """Base for a helpdesk's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, order=True)
class PolicyTarget:
    """One target of a service-level policy: a first reply within ``minutes`` for ``priority``."""

    priority: str
    minutes: int
    business_hours: bool


@dataclass(frozen=True)
class Policy:
    """A tier's service-level policy as the helpdesk holds it (``remote_id`` once it exists).

    ``tag`` is the organisation tag the policy's filter selects: tickets of organisations
    tagged with it get this policy. Two policies are the same when everything but
    ``tier_id`` and ``remote_id`` is equal (a helpdesk reading its policies back knows
    their tag, not the tier).
    """

    tier_id: str = field(compare=False)
    title: str
    tag: str
    targets: tuple[PolicyTarget, ...]
    description: str = ""
    remote_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Organization:
    """A customer organisation in the helpdesk."""

    remote_id: str
    name: str
    external_id: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Rating:
    """A satisfaction rating: ``score`` is ``good`` or ``bad``."""

    rating_id: str
    organization_id: str | None
    score: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CsatBenchmark:
    """A published CSAT figure for the helpdesk's own ratings (% good), shown beside them in
    ``tierctl report`` when the config names no ``csat`` benchmark for them."""

    value: float
    source: str
    year: int | None = None
    label: str | None = None


@dataclass
class Translation:
    """What :meth:`Helpdesk.policy_for` returns: the policy, or the problems that stop it.

    A problem is ``(path in the config, message)``, e.g. ``(("tiers", "basic",
    "response_targets", "p1"), "severity 'p1' has no Zendesk priority; ...")``.
    """

    policy: Policy | None
    problems: list[tuple[tuple[str, ...], str]] = field(default_factory=list)


class Helpdesk:
    """Base class of a helpdesk plugin. ``name`` is the plugin id; options are validated with ``Options``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type[HelpdeskOptions]] = HelpdeskOptions
    #: The platform's published CSAT, if any (see :class:`CsatBenchmark`).
    csat_benchmark: ClassVar[CsatBenchmark | None] = None

    def __init__(self, options: Any, config: "Config", instance: str):
        self.options = options
        self.config = config
        self.instance = instance  # the key under helpdesks:

    def tier_tag(self, tier_id: str) -> str:
        """The organisation tag that marks a tier's customers (default ``tier_<id>``)."""
        return f"tier_{tier_id}"

    def policy_for(self, tier_id: str, tier: "Tier") -> Translation:
        """The policy ``tier`` needs, from its ``response_targets``, or why it cannot be expressed."""
        raise NotImplementedError

    def policies(self) -> list[Policy]:
        """The service-level policies in the helpdesk (all of them; tierctl picks its own by tag)."""
        raise NotImplementedError

    def organizations(self) -> Iterator[Organization]:
        """Every organisation, page by page."""
        raise NotImplementedError

    def create_policy(self, policy: Policy) -> str:
        """Create ``policy``; return its id."""
        raise NotImplementedError

    def update_policy(self, remote_id: str, policy: Policy) -> None:
        """Make the policy ``remote_id`` equal ``policy``."""
        raise NotImplementedError

    def set_organization_tags(self, organization: Organization, tags: tuple[str, ...]) -> None:
        """Give ``organization`` exactly ``tags``."""
        raise NotImplementedError

    def ratings(self, start: datetime | None) -> Iterator[Rating]:
        """Good and bad satisfaction ratings created at or after ``start`` (all when ``None``), oldest first."""
        raise NotImplementedError
