"""``tierctl validate``: check the config and say what it defines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from tierctl.cli.app import App

if TYPE_CHECKING:
    from tierctl.config.model import Config


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def validate(app: App, as_json: bool) -> None:
    """Check the config file; list every problem with its line, or summarise it.

    Warnings (exit code still 0) name, with their line, each text that lacks
    one of organization.languages, and each sales or price text a tier
    inherits from a tier with another touch model (silence one with the
    tier's inherit_ok: [price]).

    Source files (sources.*.path) must exist and be readable. When the ledger
    exists, the config's questions are also checked against it: a question
    that has answers may not change its type.
    """
    from tierctl.config.advice import config_warnings
    from tierctl.config.inputs import input_file_problems
    from tierctl.errors import ConfigError

    config = app.config()
    problems = input_file_problems(config, app.host)
    if problems:
        raise ConfigError(problems)
    checked = _check_against_ledger(config)
    warnings = config_warnings(config)
    summary = {
        "config": config.path,
        "valid": True,
        "checked_against_ledger": checked,
        "tiers": list(config.tiers),
        "surveys": list(config.surveys),
        "providers": list(config.providers),
        "render_targets": list(config.render.targets),
        "languages": list(config.organization.languages),
        "warnings": [{"file": w.file, "line": w.line, "column": w.column, "key": w.key, "message": w.message}
                     for w in warnings],
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return

    for warning in warnings:
        # Warnings go to stderr with their line; the config is valid, so the exit code stays 0.
        click.echo(f"{warning.file}:{warning.line}:{warning.column}: {warning.key}: warning: {warning.message}",
                   err=True)

    def count(n: int, what: str) -> str:
        return f"{n} {what}" + ("" if n == 1 else "s")

    click.echo(f"{config.path}: valid. {count(len(config.tiers), 'tier')} ({', '.join(config.tiers)}), "
               f"{count(len(config.surveys), 'survey')}, {count(len(config.render.targets), 'render target')}"
               + ("; its questions agree with the answers in the ledger." if checked else "."))


def _check_against_ledger(config: "Config") -> bool:
    """Whether there was a ledger to check against; ConfigError when the config contradicts it."""
    from tierctl.errors import ConfigError
    from tierctl.storage.opener import existing_ledger
    from tierctl.responses.store import question_type_changes

    ledger = existing_ledger(config.storage.url, config.base_dir)
    if ledger is None:
        return False
    with ledger:
        problems = question_type_changes(config, ledger.question_types())
    if problems:
        raise ConfigError(problems)
    return True
