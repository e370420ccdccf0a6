"""``tierctl schema``: the config's JSON Schema, for editor completion."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of the config file.

    \b
    Use it for completion and checks in your editor, e.g. with the YAML
    language server:  # yaml-language-server: $schema=tierctl.schema.json
    """
    from tierctl.config.model import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
