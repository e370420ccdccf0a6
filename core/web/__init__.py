"""``tierctl serve``: the hosted survey form, one-click unsubscribe and the platforms' webhook receivers.

An ASGI app (Starlette), built by :func:`create_app` from a config file, so
any ASGI server can run it; ``tierctl serve`` runs it on uvicorn. Starlette
is imported only when an app is built: the links (:mod:`tierctl.web.links`)
are light, for the providers that put them in invitations.

May import: every wing below it (storage, surveys, responses, ...) and the public API.
"""

from __future__ import annotations

from typing import Any


def create_app(config_path: str | None = None, **kwargs: Any) -> Any:
    """The Starlette app for the config at ``config_path`` (default ``$TIERCTL_CONFIG`` or ``tierctl.yaml``)."""
    from tierctl.web.app import create_app as build

    return build(config_path, **kwargs)
