"""Fixtures of the web tests (their helpers are in web_project)."""

from __future__ import annotations

import pytest

from web_project import SECRET, UvicornThread, cli, make_project


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``(folder, config, server)``: invitations sent to the outbox, the app served by uvicorn."""
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("TIERCTL_LOAD_PLUGINS", "")
    monkeypatch.delenv("TIERCTL_LOAD_PLUGINS")
    port = unused_port()
    config = make_project(tmp_path, port)
    code, out, err = cli(config, "survey", "send")
    assert code == 0, out + err
    app = create_app(str(config))
    with UvicornThread(app, port) as server:
        server.app = app
        yield tmp_path, config, server
    app.desk.close()
