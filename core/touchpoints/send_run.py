"""Plan and send contact-moment messages: the engine behind ``tierctl touchpoints``.

A :class:`TouchpointRun` is a :class:`~tierctl.surveys.send_run.SurveyRun`
with another plan: the same ledger (deliveries are invitations keyed
``(message:<id>, contact, occasion)``), the same send lock, the same
claim-before-send batches, the same *unknown* state after a kill and the
same exit codes. Only what is planned, which provider sends it and what the
provider is handed (the rendered text) differ.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Iterator

from tierctl.errors import TierctlError
from tierctl.records import Invitation
from tierctl.surveys.plan_records import Deferral
from tierctl.surveys.send_run import SurveyRun, new_invite_id
from tierctl.touchpoints.planner import MESSAGE_PREFIX, TouchpointPlanner, ledger_id
from tierctl.touchpoints.texts import MessageTexts

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.storage.ledger import Ledger


class TouchpointRun(SurveyRun):
    """One invocation of the touchpoint engine at a moment ``now`` (optionally one message)."""

    def __init__(self, config: "Config", host: "PluginHost", now: datetime | None = None,
                 message: str | None = None):
        if message is not None and message not in config.messages:
            from tierctl.util.suggest import did_you_mean, one_of

            raise TierctlError(f"no message {message!r}{did_you_mean(message, config.messages)}; "
                               f"messages in {config.path}: {one_of(config.messages)}")
        super().__init__(config, host, now)
        self.message = message
        self._texts: MessageTexts | None = None

    def scheduler(self, ledger: "Ledger | None") -> TouchpointPlanner:  # type: ignore[override]
        from tierctl.surveys.instances import build_customer_source

        known = ledger.known_keys(self.now) if ledger is not None else {}
        if known:
            known = {k: v for k, v in known.items() if k[0].startswith(MESSAGE_PREFIX)}
        last, week = self.fatigue_inputs(ledger)
        return TouchpointPlanner(self.config, self.now, build_customer_source(self.config, self.host),
                                 known, last, week, self.message,
                                 ledger.suppressed() if ledger is not None else {})

    def plan(self, ledger: "Ledger | None" = None) -> tuple[TouchpointPlanner, Iterator[Invitation | Deferral]]:  # type: ignore[override]
        planner = self.scheduler(ledger)
        return planner, planner.plan()
    def provider_of(self, survey_id: str) -> str:
        return self.config.messages[survey_id[len(MESSAGE_PREFIX):]].provider

    def throttled(self) -> dict[str, bool]:
        return {ledger_id(mid): m.throttle != "exempt" for mid, m in self.config.messages.items()}

    def prepared(self, invitation: Invitation) -> Invitation:
        """The due delivery with a new id and its text rendered for the contact."""
        if self._texts is None:
            self._texts = MessageTexts(self.config)
        message = self._texts.render(invitation.survey_id[len(MESSAGE_PREFIX):], invitation)
        return replace(invitation, invite_id=new_invite_id(), message=message)
