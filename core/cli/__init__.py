"""The ``tierctl`` command line: a thin layer over the engine.

Commands live in their own modules and are imported only when run, so
``tierctl --help`` stays fast. Plugins add commands with the
``register_commands`` hook.

May import: every wing and the public API (it is the top, with ``tierctl.testing``).
"""

from __future__ import annotations

import os
import sys

import click

from tierctl import __version__
from tierctl.cli.lazy_group import LazyGroup

EXIT_CODES = """\b
Exit codes:
  0  success
  1  finished, but some items failed or were skipped as bad (they are listed)
  2  bad config, bad input or bad usage: nothing was done
  3  another run holds the lock

\b
Environment:
  TIERCTL_CONFIG        config file (instead of -c)
  TIERCTL_LOAD_PLUGINS  comma-separated plugins to load; empty loads none
  TIERCTL_DEBUG=1       show tracebacks (like --debug)

"""

COMMANDS = {
    "validate": "tierctl.cli.validate_cmd:validate",
    "render": "tierctl.cli.render_cmd:render",
    "schema": "tierctl.cli.schema_cmd:schema",
    "plugins": "tierctl.cli.plugins_cmd:plugins",
    "survey": "tierctl.cli.survey_cmd:survey",
    "touchpoints": "tierctl.cli.touchpoints_cmd:touchpoints",
    "report": "tierctl.cli.report_cmd:report",
    "plan": "tierctl.cli.capacity_cmd:plan",
    "contacts": "tierctl.cli.contacts_cmd:contacts",
    "serve": "tierctl.cli.serve_cmd:serve",
    "webhooks": "tierctl.cli.webhooks_cmd:webhooks",
    "diff": "tierctl.cli.diff_cmd:diff",
    "helpdesk": "tierctl.cli.helpdesk_cmd:helpdesk",
    "ledger": "tierctl.cli.ledger_cmd:ledger",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, epilog=EXIT_CODES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-c", "--config", "config_path", envvar="TIERCTL_CONFIG", default="tierctl.yaml",
              show_default=True, metavar="FILE", help="The tier config file.")
@click.option("--debug", is_flag=True, envvar="TIERCTL_DEBUG", help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="tierctl")
@click.pass_context
def cli(ctx: click.Context, config_path: str, debug: bool) -> None:
    """Support tiers as code: one YAML file drives support-plan pages, sales
    sheets and customer surveys."""
    from tierctl.cli.app import App
    from tierctl.cli.process_end import ProcessEnd

    # The console script passes its ProcessEnd as the root object (see tierctl.cli.process_end).
    end = ctx.obj if isinstance(ctx.obj, ProcessEnd) else None
    ctx.obj = App(config_path=config_path, debug=debug, end=end)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns user errors into exit codes.

    Called as the console script (no ``argv``: the command line is ``sys.argv``), a big
    command may end the process at once when it is done, its memory left to the system
    (:mod:`tierctl.cli.process_end`); called with ``argv`` (a program, a test), the process
    always goes on."""
    from tierctl.cli.process_end import ProcessEnd
    from tierctl.errors import ConfigError, TierctlError

    debug = ("--debug" in (argv if argv is not None else sys.argv)
             or os.environ.get("TIERCTL_DEBUG", "").lower() not in ("", "0", "false", "no"))
    end = ProcessEnd() if argv is None else None
    try:
        # Without standalone mode, click returns the code of ctx.exit(N) (and of
        # --help/--version) instead of exiting; a command may also return one.
        code = cli.main(args=argv, prog_name="tierctl", standalone_mode=False, obj=end)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except TierctlError as exc:
        if debug:  # the traceback, then the same message and exit code as without --debug
            import traceback

            traceback.print_exc()
        if isinstance(exc, ConfigError):
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(exc.summary(), err=True)
        else:
            click.echo(f"tierctl: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        # A storage backend's own error that got past the ledger (a report reading the
        # connection): damaged, locked or not writable, said as such, never a traceback.
        from tierctl.storage.opener import storage_error

        translated = storage_error(exc)
        if translated is None:
            raise
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"tierctl: error: {translated}", err=True)
        sys.exit(translated.exit_code)
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if end is not None and end.wanted:
        end.exit(code)  # a big command's memory is left to the system
    sys.exit(code)


