"""`tierctl serve` as a user runs it: a real process, uvicorn with 2 workers, /healthz, clean errors."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from web_project import SECRET, cli, form_link, make_project, messages, wait_healthy

pytestmark = pytest.mark.slow


def test_tierctl_serve_runs_two_workers_and_answers(tmp_path):
    from tierctl.testing.sockets import unused_port

    port = unused_port()
    config = make_project(tmp_path, port)
    assert cli(config, "survey", "send")[0] == 0
    env = {**os.environ, "TIERCTL_SERVE_SECRET": SECRET}
    env.pop("TIERCTL_LOAD_PLUGINS", None)
    proc = subprocess.Popen([sys.executable, "-m", "tierctl", "-c", str(config), "serve", "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = wait_healthy(port, proc)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        link = form_link(messages(tmp_path)["ann@acme.example"])
        page = httpx.get(link)
        assert page.status_code == 200 and "Would you recommend us?" in page.text
        assert "server" not in page.headers  # no server banner
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    token = link.rsplit("/", 1)[1]
    assert "GET /s/… 200" in err and token not in err


def test_serve_without_a_serve_section_or_secret_is_exit_2(tmp_path):
    config = make_project(tmp_path, 8080)
    text = config.read_text()
    config.write_text(text.replace("  secret: ${TIERCTL_SERVE_SECRET}\n", "  secret: short\n"))
    code, _, err = cli(config, "serve", "--port", "1")
    assert code == 2 and "serve.secret" in err and "at least 32 characters" in err and "short" not in err
    config.write_text(text[:text.index("serve:")])  # without serve: the mail provider links nowhere
    code, _, err = cli(config, "serve", "--port", "1")
    assert code == 2 and "providers.mail: no survey link: set survey_url" in err and "serve.base_url" in err
    config.write_text(text[:text.index("serve:")].replace("{plugin: outbox, dir: outbox}",
                                                          "{plugin: outbox, dir: outbox, survey_url: 'https://s.example/{invite_id}'}"))
    code, _, err = cli(config, "serve", "--port", "1")
    assert code == 2 and "no serve: section" in err and "Traceback" not in err
