"""An isolated tierctl engine for tests: its own plugins, a temporary ledger, a fake clock.

::

    engine = Engine(tmp_path)                                   # installed plugins
    engine = Engine(tmp_path, plugins={"acme": tierctl_acme})   # exactly these
    provider = engine.provider("acme", {"api_key": "${ACME_KEY}", "base_url": api.url},
                               env={"ACME_KEY": "k-123"})
    outcome = engine.send(provider, invitations(3))
    assert outcome.states == {i.invite_id: "sent" for i in ...}
    responses, cursor = engine.fetch_all(provider, "pre-meeting")

Providers are built the way ``tierctl survey send`` builds them: the options
go through a real config file (``${ENV}`` expansion, the plugin's ``Options``
model, the same error messages) and :func:`tierctl.surveys.instances.build_providers`;
only the provider's clock (:meth:`~tierctl.providers.Provider.sleep`, ``now``)
and its rate-limit bucket run on the :class:`~tierctl.testing.clock.FakeClock`,
so pacing, back-off and ``Retry-After`` are checked without waiting. Nothing is shared with other engines
or with the process: no global plugin manager, no default state database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from tierctl.testing.clock import FakeClock, RealClock

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config
    from tierctl.http import MaybeSent
    from tierctl.providers import Provider, ProviderError
    from tierctl.records import Invitation, RawResponse, SendResult

__all__ = ["Engine", "RecordingLimiter", "SendOutcome"]

#: The survey the sample invitations belong to (see :mod:`tierctl.testing.samples`).
SAMPLE_SURVEY = {
    "title": "Before our account review",
    "questions": [{"id": "agenda", "type": "text", "text": "What should we cover in our next call?"},
                  {"id": "satisfaction", "type": "csat", "text": "How satisfied are you so far?"}],
}


@dataclass
class SendOutcome:
    """What :meth:`Engine.send` saw.

    ``results`` are the provider's, as returned (all batches); ``error`` is
    the :class:`~tierctl.providers.ProviderError` it raised, if any (the
    engine stops that provider, as ``tierctl survey send`` does); ``states``
    is each invitation's ledger state afterwards (``sent``, ``retry``,
    ``failed``, or ``sending`` when the provider returned no result for it).
    """

    results: list["SendResult"] = field(default_factory=list)
    error: "ProviderError | MaybeSent | None" = None
    states: dict[str, str] = field(default_factory=dict)
    batches: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.results) and all(r.ok for r in self.results)


class RecordingLimiter:
    """Wraps a :class:`~tierctl.util.ratelimit.TokenBucket`; records every ``acquire`` as ``(time, tokens)``."""

    def __init__(self, bucket: Any, clock: FakeClock):
        self.bucket = bucket
        self.clock = clock
        self.acquired: list[tuple[float, float]] = []  # (clock time after the wait, tokens)

    def acquire(self, n: float = 1.0) -> None:
        self.bucket.acquire(n)
        self.acquired.append((self.clock.monotonic(), float(n)))

    @property
    def tokens(self) -> float:
        return sum(n for _, n in self.acquired)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bucket, name)


class Engine:
    """An isolated engine: a plugin host, a config folder with a SQLite ledger, a fake clock.

    :param root: an empty folder for the config file and the ledger (``tmp_path``).
    :param plugins: ``{name: module or object}`` for a host with exactly these
        plugins (:meth:`PluginHost.from_modules`); ``None`` loads the installed
        ``tierctl`` entry points (ignoring ``TIERCTL_LOAD_PLUGINS``).
    :param env: variables for ``${NAME}`` in options, over ``os.environ``.
    :param clock: the clock the providers wait on and their rate-limit buckets run on: a new
        :class:`FakeClock` by default (waits take no time); :class:`tierctl.testing.RealClock`
        for tests against a double that holds the client to a rate or a budget window in real
        time (the providers then wait as in production).
    :param organization: the generated config's ``organization`` (over a sample one).
    """

    def __init__(self, root: str | os.PathLike[str], plugins: Mapping[str, Any] | None = None, *,
                 env: Mapping[str, str] | None = None, clock: "FakeClock | RealClock | None" = None,
                 organization: Mapping[str, Any] | None = None):
        from tierctl.host.plugin_host import PluginHost

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock or FakeClock()
        self.env = dict(env or {})
        self.organization = {"name": "Acme Analytics", "timezone": "Europe/Amsterdam",
                             "contact_email": "success@acme.example", **(organization or {})}
        self.host: PluginHost = PluginHost.from_modules(plugins) if plugins is not None else PluginHost.load(env={})
        self.config: Config | None = None
        self.providers: dict[str, Provider] = {}
        self._ledger: Ledger | None = None
        self._configs = 0

    # --- config and providers -------------------------------------------------------------

    def write_config(self, providers: Mapping[str, Mapping[str, Any]],
                     surveys: Mapping[str, Mapping[str, Any]] | None = None, **extra: Any) -> Path:
        """Write a config file with these provider instances (``{name: {plugin: .., **options}}``).

        ``surveys`` defaults to the sample survey ``pre-meeting`` sent through
        the first provider. Returns the file's path.
        """
        import yaml

        first = next(iter(providers), None)
        if surveys is None:
            surveys = {"pre-meeting": {**SAMPLE_SURVEY, "provider": first}} if first else {}
        data: dict[str, Any] = {
            "version": 1,
            "organization": self.organization,
            "tiers": {"advanced": {"name": "Advanced", "touch_model": "high-touch", "plans": ["enterprise"]}},
            "surveys": {k: dict(v) for k, v in surveys.items()},
            "providers": {k: _plain(dict(v)) for k, v in providers.items()},
            "storage": {"url": "sqlite:///.tierctl/state.db"},
            **extra,
        }
        self._configs += 1
        path = self.root / ("tierctl.yaml" if self._configs == 1 else f"tierctl-{self._configs}.yaml")
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    def load_config(self, path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> "Config":
        """Load and check a config file with this engine's plugins (raises ``ConfigError``)."""
        from tierctl.config.loader import load_config

        config = load_config(path, self.host, env={**os.environ, **self.env, **(env or {})})
        self.host.check()
        return config

    def build(self, providers: Mapping[str, Mapping[str, Any]], surveys: Mapping[str, Any] | None = None,
              env: Mapping[str, str] | None = None) -> dict[str, "Provider"]:
        """Every instance of a config with these providers, built as ``survey send`` builds them.

        Providers built earlier by this engine are closed first.
        """
        from tierctl.surveys.instances import build_providers
        from tierctl.util.ratelimit import TokenBucket

        self.close_providers()
        self.config = self.load_config(self.write_config(providers, surveys), env)
        built = build_providers(self.config, self.host, set(self.config.providers))
        every = dict(built)
        for provider in built.values():
            every.update(provider.context.providers or {})  # the instances they send through too
        for provider in every.values():
            provider.bind_clock(self.clock)  # sleeps, back-off and Retry-After take no real time
            if provider.rate_limit is not None:
                bucket = TokenBucket(provider.rate_limit, clock=self.clock.monotonic, sleep=self.clock.sleep)
                provider.limiter = RecordingLimiter(bucket, self.clock)
        self.providers = built
        return built

    def provider(self, plugin: str, options: Mapping[str, Any], *, instance: str = "contract",
                 others: Mapping[str, Mapping[str, Any]] | None = None,
                 env: Mapping[str, str] | None = None,
                 surveys: Mapping[str, Mapping[str, Any]] | None = None) -> "Provider":
        """One provider instance of ``plugin`` with ``options`` as written in YAML.

        ``others`` are further instances the config needs (``{name: {plugin:
        .., **options}}``), e.g. the mailer a link-only provider sends through;
        ``surveys`` the config's surveys (default: the sample survey
        ``pre-meeting`` through this instance).
        """
        providers = {instance: {"plugin": plugin, **options}, **(others or {})}
        return self.build(providers, surveys, env=env)[instance]

    # --- ledger ---------------------------------------------------------------------------

    @property
    def ledger(self) -> "Ledger":
        """The engine's SQLite ledger (``<root>/.tierctl/state.db``), opened on first use."""
        if self._ledger is None:
            from tierctl.storage.opener import open_ledger

            self._ledger = open_ledger("sqlite:///.tierctl/state.db", self.root)
        return self._ledger

    def states(self, invite_ids: Iterable[str] | None = None) -> dict[str, str]:
        """Ledger state by invite id (all invitations, or these)."""
        rows = {row["invite_id"]: row["state"] for row in self.ledger.invitations()}
        return rows if invite_ids is None else {i: rows.get(i, "absent") for i in invite_ids}

    # --- sending and fetching ---------------------------------------------------------------

    def send(self, provider: "Provider", invitations: Sequence["Invitation"]) -> SendOutcome:
        """Claim, pace, send and record like ``tierctl survey send``, a batch at a time.

        Runs the engine's own loop, :func:`tierctl.surveys.batches.send_batches`.
        A :class:`~tierctl.providers.ProviderError` stops this provider (its
        batch is kept for a later run, as ``retry``) and is returned in
        :attr:`SendOutcome.error`, as is a :class:`tierctl.http.MaybeSent`
        (its batch is ``unknown``); any other exception propagates (a
        provider bug).
        """
        from tierctl.surveys.batches import send_batches

        ledger, now = self.ledger, self.clock.now
        outcome = SendOutcome()
        items = list(invitations)
        with ledger.lock("send"):
            run_id = ledger.begin_run("send", now)
            try:
                for batch in send_batches(provider, items, ledger, run_id, now):
                    if batch.crash is not None:
                        raise batch.crash
                    outcome.batches += 1
                    outcome.results.extend(batch.returned)
                    if batch.error is not None:
                        outcome.error = batch.error  # type: ignore[assignment]
            finally:
                ledger.finish_run(run_id, now, "ok" if outcome.ok else "partial", {})
        outcome.states = self.states(i.invite_id for i in items)
        return outcome

    def fetch_all(self, provider: "Provider", survey_id: str, cursor: str | None = None,
                  max_calls: int = 100) -> tuple[list["RawResponse"], str | None]:
        """Fetch as ``tierctl survey collect`` does: from ``cursor``, again while new responses come.

        Runs the engine's own loop, :func:`tierctl.responses.paging.fetch_pages`.
        Returns every response the provider returned (duplicates included, so
        tests can see them) and the last cursor.
        """
        from tierctl.responses.paging import fetch_pages

        out: list[RawResponse] = []
        for page in fetch_pages(provider, survey_id, cursor, max_calls):
            out.extend(page.items)
            if page.cursor is not None:
                cursor = page.cursor
        return out, cursor

    # --- cleanup --------------------------------------------------------------------------

    def close_providers(self) -> None:
        for provider in self.providers.values():
            provider.close()
        self.providers = {}

    def close(self) -> None:
        """Close the providers and the ledger."""
        try:
            self.close_providers()
        finally:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """Options as YAML can hold them: secrets revealed (the file is the test's own), paths as text."""
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
