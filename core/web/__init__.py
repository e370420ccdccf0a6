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


def serve_app() -> Any:
    """The app as ``tierctl serve`` runs it in each worker process (config from ``$TIERCTL_CONFIG``).

    After the app is built and warm, everything it holds (config, templates, catalogs, plugins) is
    frozen out of the garbage collector's sight (:func:`gc.freeze`) and young collections run less
    often: otherwise each full collection walked that whole heap while every request waited (pauses
    of 90-140 ms under load, seen as the p99 of ``benchmarks/bench_serve.py``; frozen, 15-25 ms).
    Answers are mostly freed by reference counting; cycles are still collected.
    """
    import gc

    app = create_app()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    return app


#: Allocations between young collections in a serve worker (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000
