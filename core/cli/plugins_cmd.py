"""``tierctl plugins``: what is installed and what each plugin registers.

``--requirements`` prints the installed plugin distributions as pip
requirement lines (``tierctl-acme==1.0.0``), to reinstall the same set
elsewhere: ``tierctl plugins --requirements > plugins.txt`` and
``pip install -r plugins.txt``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from tierctl.cli.app import App

if TYPE_CHECKING:
    from tierctl.host.plugin_host import PluginHost


def plugins_document(host: "PluginHost") -> dict[str, Any]:
    """What ``tierctl plugins --json`` prints for ``host``: the plugins, and each provider and
    source with its options (name, type, default, description, required, secret)."""
    from tierctl.config.plugin_options import plugin_options_document

    return {"plugins": [i.as_dict() for i in host.describe()], **plugin_options_document(host),
            "errors": list(host.errors)}


def plugin_requirements() -> list[str]:
    """One pip requirement line per installed distribution with ``tierctl`` entry points.

    Every distribution once (tierctl's own plugins are all ``tierctl``), sorted
    by name; plugins left out by ``TIERCTL_LOAD_PLUGINS`` or failing to load
    are still installed, so they are listed. A distribution installed from a
    folder or a VCS gets a comment saying where from, since its version may
    not be on an index.
    """
    from importlib import metadata

    from tierctl.host.plugin_host import ENTRY_POINT_GROUP

    found: dict[str, metadata.Distribution] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        if dist is None:
            continue
        key = _normalise(dist.metadata["Name"] or dist.name)
        found.setdefault(key, dist)
    lines = []
    for key in sorted(found):
        dist = found[key]
        line = f"{dist.metadata['Name'] or dist.name}=={dist.version}"
        origin = _direct_url(dist)
        lines.append(f"{line}  # installed from {origin}" if origin else line)
    return lines


def _normalise(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _direct_url(dist: Any) -> str | None:
    """Where a distribution was installed from, when not from an index (PEP 610)."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = info.get("url")
    if not isinstance(url, str):
        return None
    if info.get("dir_info", {}).get("editable"):
        return f"{url} (editable)"
    return url


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--requirements", is_flag=True,
              help="Print the installed plugin distributions as pip requirements (name==version).")
@click.pass_obj
def plugins(app: App, as_json: bool, requirements: bool) -> None:
    """List plugins with their distribution, version, hooks and registrations."""
    if requirements:
        if as_json:
            raise click.UsageError("--requirements and --json cannot be combined")
        for line in plugin_requirements():
            click.echo(line)
        return
    host = app.host
    if as_json:
        click.echo(json.dumps(plugins_document(host), indent=2))
        return
    for info in host.describe():
        origin = f"{info.distribution} {info.version}" if info.distribution else info.module
        click.echo(f"{info.name}  ({origin})")
        if info.error:
            click.echo(f"    FAILED: {info.error}")
            continue
        click.echo(f"    hooks: {', '.join(info.hooks) or '-'}")
        for kind, names in sorted(info.registers.items()):
            click.echo(f"    {kind}: {', '.join(sorted(names))}")
    for message in host.errors:
        click.echo(f"error: {message}", err=True)
