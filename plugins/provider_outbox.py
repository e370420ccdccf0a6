"""The ``outbox`` provider: invitations as ``.eml`` files, for previews, demos and dry runs.

::

    providers:
      preview:
        plugin: outbox
        dir: outbox                      # relative to the config file
        survey_url: https://form.typeform.com/to/AbC123#invite_id={invite_id}

Each invitation becomes ``<dir>/<invite_id>.eml``: exactly the bytes the
``smtp`` provider would send for it (same options, same templates), written
atomically. Open them in any mail client. Options are the shared e-mail
options (:class:`~tierctl.plugins.email_message.EmailOptions`) plus ``dir``;
``from_address`` defaults to ``organization.contact_email``, else
``surveys@example.invalid``. Nothing leaves the machine, so there is no rate
limit.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

from pydantic import Field

from tierctl.plugins.email_message import EmailOptions, InvalidRecipient, message_bytes, render_for
from tierctl.util.files import atomic_write
from tierctl.providers import Provider, ProviderContext, ProviderError
from tierctl.records import Invitation, SendResult

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


class OutboxOptions(EmailOptions):
    dir: str = Field("outbox", description="Folder for the .eml files, relative to the config file")


def eml_name(invite_id: str) -> str:
    """``<invite_id>.eml``; an id that is not a safe file name is hashed instead."""
    if _SAFE_NAME.match(invite_id) and ".." not in invite_id:
        return f"{invite_id}.eml"
    return hashlib.sha256(invite_id.encode("utf-8")).hexdigest()[:40] + ".eml"


class OutboxProvider(Provider):
    """Writes each invitation as an ``.eml`` file instead of sending it."""

    name = "outbox"
    description = "Write invitations as .eml files (previews, demos, dry runs); nothing is sent"
    Options = OutboxOptions
    rate_limit = None
    batch_size = 500
    options: OutboxOptions

    def __init__(self, instance: str, options: OutboxOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.dir = Path(context.base_dir) / options.dir

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProviderError(self.instance, f"cannot create the outbox folder {self.dir}: {exc.strerror}",
                                retry=False) from None
        results = []
        for invitation in batch:
            try:
                data = message_bytes(render_for(self, invitation))
            except InvalidRecipient as exc:
                results.append(SendResult.failed(invitation.invite_id, str(exc)))
                continue
            name = eml_name(invitation.invite_id)
            try:
                atomic_write(self.dir / name, data)
            except OSError as exc:
                # Disk full or read-only: every other file would fail too. Rewriting is
                # harmless (same bytes), so the whole batch can simply run again later.
                raise ProviderError(self.instance, f"cannot write {self.dir / name}: {exc.strerror}") from None
            results.append(SendResult.sent(invitation.invite_id, name))
        return results
