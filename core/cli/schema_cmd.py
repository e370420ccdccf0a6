"""``tierctl schema``: the config's JSON Schema, for editor completion."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of the config file, with every installed plugin's options.

    \b
    Use it for completion and checks in your editor, e.g. with the YAML
    language server:  # yaml-language-server: $schema=tierctl.schema.json
    Each entry under providers: and sources: is checked against the options
    of its plugin: value (one branch per installed provider and source).
    """
    from tierctl.cli.app import shared_host
    from tierctl.config.model import json_schema
    from tierctl.config.plugin_options import with_plugin_options

    click.echo(json.dumps(with_plugin_options(json_schema(), shared_host()), indent=2, sort_keys=True))
