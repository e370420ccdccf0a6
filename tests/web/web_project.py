"""Helpers of the web tests: a project with `serve:`, the CLI, the outbox, a real uvicorn on 127.0.0.1.

A module of its own name, not conftest: `from conftest import ...` finds whichever test
folder's conftest was imported first (tests/providers has one too)."""

from __future__ import annotations

import email
import email.policy
import re
import sys
import threading
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from project_fixtures import EMPTY_ICS, PROJECT_YAML, run_cli, write_customers  # noqa: E402

SECRET = "serve-secret-0123456789abcdefghijklmnop"
TYPEFORM_SECRET = "tf-webhook-secret-0123456789"


def serve_yaml(port: int, extra: str = "") -> str:
    yaml = PROJECT_YAML.replace(
        "organization: {name: Acme, timezone: Europe/Amsterdam}",
        "organization: {name: Acme, timezone: Europe/Amsterdam, support_url: https://acme.example/support}")
    yaml = yaml.replace(', survey_url: "https://survey.example/{survey}?id={invite_id}"', "")
    yaml = yaml.replace("      - {id: nps, type: nps, text: Would you recommend us?}\n",
                        "      - {id: nps, type: nps, text: Would you recommend us?, required: true}\n"
                        "      - {id: effort, type: ces, text: How easy was it to get help?}\n"
                        "      - {id: area, type: choice, text: What matters most?, choices: [Speed, Price, Support]}\n"
                        "      - {id: comment, type: text, text: Anything else?}\n")
    yaml = yaml.replace("throttle: {per_contact: 30d}\n", "")
    return yaml + (f"serve:\n  base_url: http://127.0.0.1:{port}\n  secret: ${{TIERCTL_SERVE_SECRET}}\n"
                   f"  unsubscribe_mailto: unsubscribe@acme.example\n"
                   f"  rate_per_ip: 1000\n  rate_per_token: 100\n{extra}")


def make_project(folder: Path, port: int, extra: str = "", yaml: str | None = None) -> Path:
    (folder / "tierctl.yaml").write_text(yaml or serve_yaml(port, extra))
    write_customers(folder / "customers.csv", [
        ["a1", "Acme", "starter", "active", "ann@acme.example", "Ann Smith", "user", "en"],
        ["a1", "Acme", "starter", "active", "bob@acme.example", "Bob", "user", "en"],
    ])
    (folder / "meetings.ics").write_text(EMPTY_ICS)
    return folder / "tierctl.yaml"


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), *args], load_plugins=None, env={"TIERCTL_SERVE_SECRET": SECRET})


def messages(folder: Path) -> dict[str, email.message.EmailMessage]:
    """The outbox's messages by recipient address."""
    out = {}
    for path in sorted((folder / "outbox").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        out[str(msg["To"].addresses[0].addr_spec)] = msg
    return out


def form_link(msg) -> str:
    text = msg.get_body(("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_.-]+", text).group(0)


def wait_healthy(port: int, proc, timeout: float = 30.0):
    """``GET /healthz`` of a ``tierctl serve`` process once it listens (fails when it exits first)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else f"exited {proc.returncode}"
            assert time.monotonic() < deadline, f"the server did not serve /healthz in {timeout:.0f} s"
            time.sleep(0.2)


def sent_and_served(folder: Path, port: int, yaml: str):
    """A project with ``yaml`` whose invitations were sent, served by uvicorn: yields ``(config, server)``."""
    from contextlib import contextmanager

    from tierctl.web import create_app

    @contextmanager
    def running():
        config = make_project(folder, port, yaml=yaml)
        code, out, err = cli(config, "survey", "send")
        assert code == 0, out + err
        app = create_app(str(config))
        try:
            with UvicornThread(app, port) as server:
                server.app = app
                yield config, server
        finally:
            app.desk.close()

    return running()


class UvicornThread:
    """A real uvicorn server running an app in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app, port: int):
        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "UvicornThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
