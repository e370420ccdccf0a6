"""A well-behaved third-party tierctl plugin, as a test fixture.

Heavy libraries (here ``acme_heavy_dep``) are imported inside functions, never
at module level, so ``tierctl --help`` does not pay for them.
"""

import click

from tierctl.hookspecs import hookimpl


@hookimpl
def register_renderers(register):
    # Registered by import path: tierctl imports the class only when rendering.
    register("acme-text", "tierctl_acme_renderer:AcmeText")


@hookimpl
def register_providers(register):
    register("acme-sms", "tierctl_acme_renderer:AcmeSms")


@hookimpl
def register_template_filters(register):
    register("shout", lambda value: f"{str(value).upper()}!")


@hookimpl
def register_commands(cli):
    @cli.command("acme-hello")
    @click.option("--name", default="world")
    @click.option("--exit-code", type=int, default=0, help="Exit with this code (to test exit codes).")
    @click.pass_context
    def hello(ctx, name, exit_code):
        """Say hello from the acme plugin."""
        import acme_heavy_dep

        click.echo(f"hello {name} from acme ({acme_heavy_dep.NAME})")
        if exit_code:
            ctx.exit(exit_code)
