"""tierctl's pytest plugin (entry point ``pytest11``): fixtures for provider authors.

pytest loads this module in every test run of anyone who installed tierctl,
so it imports nothing but pytest at module level; each fixture imports what
it needs when a test asks for it. Fixture names start with ``tierctl_`` so
they cannot shadow a project's own.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

# Plain asserts in the contract suite get pytest's detailed messages.
pytest.register_assert_rewrite("tierctl.testing.contract")


@pytest.fixture
def tierctl_clock() -> Any:
    """A :class:`tierctl.testing.FakeClock`: time passes only when code sleeps on it."""
    from tierctl.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def tierctl_engine_factory(tmp_path: Any, tierctl_clock: Any) -> Iterator[Callable[..., Any]]:
    """Make isolated engines: ``tierctl_engine_factory(plugins=None, env=None, clock=None)``.

    Each gets its own folder under ``tmp_path`` and plugin host, and shares
    the test's ``tierctl_clock`` (or runs on ``clock``, e.g.
    ``tierctl.testing.RealClock()``); all are closed after the test.
    """
    from tierctl.testing.engine import Engine

    made: list[Any] = []

    def make(plugins: Any = None, *, env: Any = None, organization: Any = None, clock: Any = None) -> Any:
        engine = Engine(tmp_path / f"tierctl-engine-{len(made) + 1}", plugins, env=env,
                        clock=clock or tierctl_clock, organization=organization)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def tierctl_engine(tierctl_engine_factory: Callable[..., Any]) -> Any:
    """An isolated :class:`tierctl.testing.Engine` with the installed plugins."""
    return tierctl_engine_factory()


@pytest.fixture
def tierctl_serve() -> Iterator[Callable[[Any], Any]]:
    """Start a server (any context manager, e.g. an :class:`HttpDouble`) for this test: ``tierctl_serve(Api())``."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield stack.enter_context


@pytest.fixture
def tierctl_http_server(tierctl_serve: Callable[[Any], Any]) -> Any:
    """A started :class:`tierctl.testing.HttpServer` on 127.0.0.1 (answers ``{"id": "sub-N"}``)."""
    from tierctl.testing.http_double import HttpServer

    return tierctl_serve(HttpServer())


@pytest.fixture
def tierctl_smtp_server_factory(tierctl_serve: Callable[[Any], Any]) -> Callable[..., Any]:
    """Start SMTP servers: ``tierctl_smtp_server_factory(security=None, certificate=None, users=None)``."""
    def make(**kwargs: Any) -> Any:
        from tierctl.testing.smtp_server import SmtpServer

        return tierctl_serve(SmtpServer(**kwargs))

    return make


@pytest.fixture
def tierctl_smtp_server(tierctl_smtp_server_factory: Callable[..., Any]) -> Any:
    """A started plain :class:`tierctl.testing.SmtpServer` on 127.0.0.1 (``.port``, ``.messages``)."""
    return tierctl_smtp_server_factory()


@pytest.fixture
def tierctl_silent_server(tierctl_serve: Callable[[Any], Any]) -> Any:
    """A started :class:`tierctl.testing.SilentServer`: accepts connections, never answers."""
    from tierctl.testing.sockets import SilentServer

    return tierctl_serve(SilentServer())


@pytest.fixture
def tierctl_unused_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    from tierctl.testing.sockets import unused_port

    return unused_port()


@pytest.fixture(scope="session")
def tierctl_postgres() -> Iterator[str]:
    """The URL of a real PostgreSQL server for the test session.

    ``TIERCTL_TEST_POSTGRES_URL`` names one to use; otherwise one is started
    from the machine's PostgreSQL binaries (:class:`tierctl.testing.postgres.PostgresServer`).
    Without them the tests that ask for it are skipped, with the reason; in
    CI (``CI=true``) that is a failure instead.
    """
    import os

    given = os.environ.get("TIERCTL_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from tierctl.testing.postgres import server_or_reason

    server, reason = server_or_reason()
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def tierctl_postgres_url(tierctl_postgres: str) -> Iterator[str]:
    """A ``storage.url`` for an empty schema of its own on :func:`tierctl_postgres`, dropped afterwards."""
    from tierctl.testing.postgres import drop_schema, fresh_schema

    url = fresh_schema(tierctl_postgres)
    yield url
    drop_schema(url)
