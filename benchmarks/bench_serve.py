"""The hosted form under load (issue: tierctl serve), printed as a table.

10,000 submissions from 200 concurrent clients (keep-alive HTTP/1.1 connections) against
``tierctl serve --workers 2`` on SQLite, beside a bare Starlette endpoint doing the same SQLite write
on uvicorn with 2 workers, in the same run. Each submission is a different invitation's signed link
with its CSRF token; answers are valid. Printed: throughput, p50 and p99 latency, the server's peak
memory (all its processes), and lost submissions (accepted with 303 but not in the ledger; must be 0).
Targets: at least 50% of the bare endpoint's throughput; p99 under 250 ms.

Run: ``.venv/bin/python benchmarks/bench_serve.py [--submissions N] [--clients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

from table import print_table

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
CONFIG = """\
version: 1
organization: {{name: Bench, timezone: UTC}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [free], surveys: [feedback]}}
surveys:
  feedback:
    title: Feedback
    trigger: {{every: year}}
    provider: mail
    questions:
      - {{id: nps, type: nps, text: Recommend us?}}
      - {{id: effort, type: ces, text: Easy?}}
      - {{id: comment, type: text, text: Anything else?}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
providers:
  mail: {{plugin: outbox, dir: outbox}}
serve:
  base_url: http://127.0.0.1:{port}
  secret: ${{TIERCTL_SERVE_SECRET}}
  rate_per_ip: 100000000
  rate_per_token: 1000
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_invitations(folder: Path, n: int) -> list[str]:
    """n sent invitations in the project's ledger, through the ledger's own API; their invite ids."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from tierctl.records import Invitation, SendResult
    from tierctl.storage.opener import open_ledger
    from tierctl.surveys.send_run import new_invite_id

    now = datetime.now(timezone.utc)
    invitations = [Invitation(new_invite_id(), "feedback", "Feedback", "basic", f"a{i}", f"A {i}",
                              f"p{i}@bench.example", f"P {i}", "user", "en", "2026", now, now + timedelta(days=300),
                              due_day=now.date().isoformat()) for i in range(n)]
    with open_ledger(None, folder) as ledger:
        run = ledger.begin_run("send", now)
        for start in range(0, n, 1000):
            batch = ledger.claim_batch(invitations[start:start + 1000], run, now, "mail", {"feedback": True})
            ledger.record_results([SendResult.sent(i.invite_id) for i in batch], now)
    return [i.invite_id for i in invitations]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def tree_peak_rss_mib(pid: int) -> float:
    """The sum of peak RSS (VmHWM) of a process and its children."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


async def load(port: int, paths_and_bodies: list[tuple[str, bytes]], clients: int) -> tuple[float, list[float], int]:
    """Send every request over ``clients`` keep-alive connections; (seconds, latencies, 303s)."""
    queue = list(reversed(paths_and_bodies))
    latencies: list[float] = []
    accepted = 0

    async def client() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                path, body = queue.pop()
                request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status_line.split()[1:2] == [b"303"]:
                    accepted += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies, accepted


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_server(cmd: list[str], port: int, env: dict[str, str], cwd: Path, requests: list[tuple[str, bytes]],
               clients: int) -> tuple[float, list[float], int, float]:
    # The server's log goes to a file: an unread pipe would fill up and stall it.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        wait_listening(port, proc)
        time.sleep(1.0)  # both workers up
        seconds, latencies, accepted = asyncio.run(load(port, requests, clients))
        memory = tree_peak_rss_mib(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return seconds, latencies, accepted, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    from tierctl.web.links import CSRF, FORM, make_token, signature

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        (folder / "tierctl.yaml").write_text(CONFIG.format(port=port))
        (folder / "customers.csv").write_text("account_id,account_name,plan,status,contact_email\n")
        ids = make_invitations(folder, args.submissions)
        env = {**os.environ, "TIERCTL_SERVE_SECRET": SECRET, "TIERCTL_LOAD_PLUGINS": ""}
        env.pop("TIERCTL_LOAD_PLUGINS")
        requests = [(f"/s/{make_token(SECRET, FORM, i)}",
                     urlencode({"csrf": signature(SECRET, CSRF, i), "nps": str(n % 11), "effort": str(n % 7 + 1),
                                "comment": "fine"}).encode()) for n, i in enumerate(ids)]
        served = run_server([sys.executable, "-m", "tierctl", "-c", str(folder / "tierctl.yaml"), "serve",
                             "--port", str(port), "--workers", "2"], port, env, folder, requests, args.clients)
        with sqlite3.connect(folder / ".tierctl" / "state.db") as conn:
            stored = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

        bare_port = free_port()
        db = folder / "bare.db"
        sys.path.insert(0, str(HERE))
        import bare_serve_app

        bare_serve_app.setup(str(db))
        bare_requests = [(f"/s/{i}", body) for i, (_, body) in zip(ids, requests)]
        bare = run_server([sys.executable, "-m", "uvicorn", "--factory", "bare_serve_app:create_app", "--port",
                           str(bare_port), "--workers", "2", "--no-access-log", "--log-level", "warning"],
                          bare_port, {**env, "BARE_DB": str(db), "PYTHONPATH": str(HERE)}, HERE, bare_requests,
                          args.clients)
        with sqlite3.connect(db) as conn:
            bare_stored = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    n = args.submissions
    t_served, t_bare = n / served[0], n / bare[0]
    rows = [
        ["tierctl serve (2 workers)", f"{t_served:,.0f}/s", f"{percentile(served[1], .5):.1f} ms",
         f"{percentile(served[1], .99):.1f} ms", f"{served[3]:.0f} MiB", f"{served[2] - stored}",
         f"{t_served / t_bare:.0%} of bare (target >= 50%); p99 target < 250 ms"],
        ["bare Starlette + same insert", f"{t_bare:,.0f}/s", f"{percentile(bare[1], .5):.1f} ms",
         f"{percentile(bare[1], .99):.1f} ms", f"{bare[3]:.0f} MiB", f"{bare[2] - bare_stored}", "the floor"],
    ]
    print(f"{n:,} submissions from {args.clients} concurrent clients; accepted: serve {served[2]:,}, "
          f"bare {bare[2]:,}")
    print_table(rows, ["", "throughput", "p50", "p99", "peak memory", "lost", ""])
    print(f"p99: tierctl serve {percentile(served[1], .99):.0f} ms (target < 250 ms), the bare endpoint "
          f"{percentile(bare[1], .99):.0f} ms, in the same run")
    print(f"load average (1, 5, 15 min): {' '.join(load_before)} before, "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} after (2 cores; other work shares them)")
    ok = t_served >= 0.5 * t_bare and percentile(served[1], .99) < 250 and served[2] == stored == n
    print("meets the targets" if ok else "MISSES a target")


if __name__ == "__main__":
    main()
