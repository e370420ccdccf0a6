"""A pytest plugin for ``bench_contract.py``'s floor run: every provider built by the kit's Engine gets
``max_retries: 0`` (``retries: 0`` for SMTP, whose option has that name) when its options model has the
field, so nothing is retried and no back-off runs. Loaded with ``-p contract_floor``; never in the suite."""

from __future__ import annotations

from tierctl.testing import engine as kit

_write_config = kit.Engine.write_config


def _no_retries(self, providers, surveys=None, **extra):
    changed = {}
    for name, options in providers.items():
        fields = getattr(self.host.providers.get(options.get("plugin")), "Options", None)
        fields = getattr(fields, "model_fields", {})
        key = "max_retries" if "max_retries" in fields else "retries" if "retries" in fields else None
        changed[name] = {**options, key: 0} if key else options
    return _write_config(self, changed, surveys, **extra)


kit.Engine.write_config = _no_retries
