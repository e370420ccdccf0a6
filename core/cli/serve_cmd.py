"""``tierctl serve``: the hosted survey form, unsubscribe page and webhooks, on uvicorn."""

from __future__ import annotations

import os

import click

from tierctl.cli.app import App


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, metavar="IPS",
              help="Proxies whose X-Forwarded-For/-Proto are trusted (comma-separated, or *).")
@click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True)
@click.pass_obj
def serve(app: App, host: str, port: int, workers: int, forwarded_allow_ips: str, log_format: str) -> None:
    """Run the hosted survey form, one-click unsubscribe and the platforms' webhooks.

    Needs serve.base_url and serve.secret in the config. Put it behind a
    reverse proxy that terminates TLS (see the README). Access logs never
    contain the links' tokens.
    """
    import uvicorn

    from tierctl.cli.logs import setup_logging

    setup_logging(log_format)
    if workers == 1:  # the app runs in this process: its request logs go through a queue
        from tierctl.web.app import log_off_the_loop

        log_off_the_loop()
    config = app.config()  # check it here: a bad config is exit 2 before anything listens
    if config.serve is None:
        from tierctl.errors import TierctlError

        raise TierctlError(f"{config.path}: no serve: section; add serve: {{base_url: https://surveys.example, "
                           "secret: ${TIERCTL_SERVE_SECRET}}")
    os.environ["TIERCTL_CONFIG"] = str(os.path.abspath(app.config_path))
    click.echo(f"tierctl serve: {config.serve.base_url} on http://{host}:{port} ({workers} worker(s))", err=True)
    # access_log off: uvicorn's would print the paths, and a path holds a survey link's token
    # (tierctl.web.guard logs each request with the token removed).
    uvicorn.run("tierctl.web:serve_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, access_log=False,
                log_level="info", server_header=False)
