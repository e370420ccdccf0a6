"""PostgreSQL ledger benchmarks (issue #14: PostgreSQL and several runners), printed as a table.

A real PostgreSQL server is started from the machine's binaries (durable:
fsync on), on a free port of 127.0.0.1.

1. ``survey send`` of 100,000 invitations through the ``webhook`` provider
   to a local counting HTTP sink (``http_sink.py --count --latency-ms 40``)
   with 1, 2 and 4 runners (separate processes, as on separate machines) on
   one PostgreSQL ledger: wall time from start until the last runner ends
   (each plans the 100,000 contacts first; ``survey plan`` alone is timed
   beside), throughput, and what the sink counted: duplicated (target 0) and
   lost (target 0). Target: 2 runners >= 1.6x one runner's throughput where
   the sink allows it. The sink answers each POST after a fixed latency, as
   a platform's API does, so runners are bound by that latency and the
   requests they keep in flight (``concurrency``), not by this machine's two
   shared cores; the sink's ceiling with every runner's requests in flight
   is measured in the same run (a bare concurrent ``requests`` loop) beside it.
2. ``tierctl ledger copy`` of 1,000,000 sent invitations from SQLite into
   PostgreSQL (counts and checksums compared).
3. ``survey import`` of 1,000,000 responses from CSV into PostgreSQL
   (target < 20 s), beside the floor: the same file streamed by ``COPY``
   into a plain table, no parsing in Python; and beside the peer: the same
   file imported into the same ledger as a SQLite file.
4. ``report --format json`` over those responses on PostgreSQL (target
   < 3 s, best of 3), beside the same report on a SQLite copy of the ledger
   (copied back with ``ledger copy``); both must print the same JSON.
5. ``--kill-rounds N`` also runs the kill test (``tests/surveys/
   test_runners_postgres.py``) with N rounds: one of three runners SIGKILLed
   at a random point, N times; 0 duplicated, 0 lost.

Run: ``.venv/bin/python benchmarks/bench_postgres.py [--invitations N] [--responses N] [--runners 1,2,4]
[--kill-rounds 20] [--skip-send] [--skip-responses] [--latency-ms 40] [--concurrency 25]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_responses import CONFIG as RESPONSES_CONFIG, generate as generate_responses, measure
from bench_survey import CONFIG as SURVEY_CONFIG, generate as generate_contacts
from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

from tierctl.testing.postgres import PostgresServer, fresh_schema

HERE = Path(__file__).resolve().parent
TIERCTL = [sys.executable, "-m", "tierctl"]


def sink_stats(port: int, path: str = "/stats") -> dict:
    import requests

    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).json()


def bare_ceiling(port: int, n: int, threads: int) -> float:
    """Requests per second a bare concurrent requests loop gets from the sink (its ceiling here)."""
    import concurrent.futures

    import requests

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=threads))
    url = f"http://127.0.0.1:{port}/invitations"
    t0 = time.perf_counter()

    def post(k: int) -> int:
        body = json.dumps({"survey": "bare", "contact": {"email": f"b{k}@x.example"}, "occasion": "o"})
        return session.post(url, data=body, timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, range(n)))
    return n / (time.perf_counter() - t0)


def bench_send(folder: Path, server: PostgresServer, invitations: int, runner_counts: list[int],
               latency_ms: float, concurrency: int) -> list[tuple]:
    sink = subprocess.Popen([sys.executable, str(HERE / "http_sink.py"), "--count", "--latency-ms", str(latency_ms)],
                            stdout=subprocess.PIPE, text=True)
    rows: list[tuple] = []
    try:
        port = int(sink.stdout.readline())
        most = max(runner_counts) * concurrency
        ceiling = bare_ceiling(port, min(invitations, 20 * most), most)
        rows.append((f"the sink: every POST answered after {latency_ms:g} ms, as a platform's API (runners are "
                     f"latency-bound, {concurrency} requests in flight each); its ceiling: a bare requests loop "
                     f"with {most} in flight", f"{ceiling:,.0f} req/s", "", "peer"))
        base = None
        for count in runner_counts:
            run_dir = folder / f"send{count}"
            run_dir.mkdir()
            generate_contacts(run_dir, invitations, 0, per_account=10)
            url = fresh_schema(server.url, prefix=f"send{count}")
            config = SURVEY_CONFIG.format(provider="hook", port=port).replace(
                'storage: {url: "sqlite:///state.db"}', f'storage: {{url: "{url}"}}').replace(
                "concurrency: 8", f"concurrency: {concurrency}")
            (run_dir / "tierctl.yaml").write_text(config)
            if base is None:
                # What every runner does before it claims anything: plan all contacts.
                t0 = time.perf_counter()
                subprocess.run(TIERCTL + ["-c", "tierctl.yaml", "survey", "plan", "--now", "2027-01-04T08:00:00Z",
                                          "--json"], cwd=run_dir, stdout=subprocess.DEVNULL, check=True)
                rows.append((f"survey plan alone, {invitations:,} contacts (each runner plans first)",
                             f"{time.perf_counter() - t0:.1f} s", "", "the part no runner shares"))
            sink_stats(port, "/reset")
            t0 = time.perf_counter()
            procs = [subprocess.Popen(TIERCTL + ["-c", "tierctl.yaml", "survey", "send", "--now",
                                                 "2027-01-04T08:00:00Z", "--json"], cwd=run_dir,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(count)]
            outs = [p.communicate() for p in procs]
            wall = time.perf_counter() - t0
            codes = [p.returncode for p in procs]
            if any(codes):
                raise SystemExit(f"a runner failed: {codes}: {[err[-2000:] for _, err in outs]}")
            reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
            stats = sink_stats(port)
            lost = invitations - stats["distinct"]
            rate = invitations / wall
            base = base or rate
            shares = "/".join(f"{r['sent']:,}" for r in reports)
            target = ""
            if count == 2:
                target = f"{rate / base:.2f}x one runner: " + ("OK" if rate / base >= 1.6 else "MISSED (>= 1.6x)")
            elif count > 1:
                target = f"{rate / base:.2f}x one runner"
            rows.append((f"survey send, {invitations:,} invitations, {count} runner(s) (sent {shares})",
                         f"{wall:.1f} s", f"{rate:,.0f} inv/s",
                         f"{stats['duplicated']} duplicated, {lost} lost; {target}".rstrip("; ")))
    finally:
        sink.terminate()
        sink.wait()
    return rows


def bench_responses(folder: Path, server: PostgresServer, n: int) -> list[tuple]:
    import psycopg

    rows: list[tuple] = []
    print(f"setting up {n:,} sent invitations (SQLite) and {n:,} CSV rows in {folder} ...", flush=True)
    t0 = time.perf_counter()
    generate_responses(folder, n)
    os.sync()
    print(f"  setup took {time.perf_counter() - t0:.1f} s", flush=True)

    url = fresh_schema(server.url, prefix="responses")
    # The same ledger as a SQLite file, for the peer import of the same CSV.
    lite_dir = folder / "sqlite"
    lite_dir.mkdir()
    shutil.copy(folder / "state.db", lite_dir / "state.db")
    shutil.copy(folder / "tierctl.yaml", lite_dir / "tierctl.yaml")
    copy = measure(folder, "ledger", "copy", "--to", url, "--json")
    if copy["code"] != 0:
        raise SystemExit("ledger copy failed: " + copy["stderr"])
    rows.append((f"ledger copy SQLite -> PostgreSQL, {n:,} invitations", f"{copy['wall']:.1f} s",
                 f"{copy['peak_mib']:.0f} MiB", "every table: same rows and SHA-256"))

    pg_config = RESPONSES_CONFIG.replace('storage: {url: "sqlite:///state.db"}', f'storage: {{url: "{url}"}}')
    (folder / "tierctl.yaml").write_text(pg_config)

    # The floor: the file's bytes streamed into a plain table by COPY, nothing parsed in Python.
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.csv_floor (invite_id text, submitted_at text, nps text, "
                     "satisfaction text, effort text, next text)")
        conn.execute("TRUNCATE public.csv_floor")
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY public.csv_floor FROM STDIN (FORMAT csv, HEADER true)") as cp, \
                (folder / "responses.csv").open("rb") as fh:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        floor = time.perf_counter() - t0
        conn.execute("DROP TABLE public.csv_floor")
    rows.append(("floor: COPY the CSV's bytes into a plain table", f"{floor:.1f} s", "", "peer"))

    # --now: the generated answers run to the end of 2026.
    imp = measure(folder, "survey", "import", "responses.csv", "--survey", "product-feedback",
                  "--now", "2027-01-01T00:00:00Z")
    if imp["code"] != 0:
        raise SystemExit("survey import failed: " + imp["stderr"])
    rows.append((f"survey import into PostgreSQL, {n:,} responses", f"{imp['wall']:.1f} s",
                 f"{imp['peak_mib']:.0f} MiB", "< 20 s: " + ("OK" if imp["wall"] < 20 else "MISSED")))
    lite = measure(lite_dir, "survey", "import", str(folder / "responses.csv"), "--survey", "product-feedback",
                   "--now", "2027-01-01T00:00:00Z")
    if lite["code"] != 0:
        raise SystemExit("survey import into SQLite failed: " + lite["stderr"])
    rows.append((f"peer: the same import into SQLite, {n:,} responses", f"{lite['wall']:.1f} s",
                 f"{lite['peak_mib']:.0f} MiB", f"PostgreSQL takes {imp['wall'] / lite['wall']:.1f}x"))
    shutil.rmtree(lite_dir)

    reports = [measure(folder, "report", "--format", "json") for _ in range(3)]
    if any(r["code"] for r in reports):
        raise SystemExit("report failed: " + reports[0]["stderr"])
    best = min(reports, key=lambda r: r["wall"])
    rows.append(("report --format json on PostgreSQL (best of 3)", f"{best['wall']:.2f} s",
                 f"{best['peak_mib']:.0f} MiB", "< 3 s: " + ("OK" if best["wall"] < 3 else "MISSED")))
    pg_json = subprocess.run(TIERCTL + ["-c", "tierctl.yaml", "report", "--format", "json"], cwd=folder,
                             capture_output=True, text=True, check=True).stdout

    # Back into a SQLite file with every response, and the same report there.
    back = measure(folder, "ledger", "copy", "--to", "sqlite:///back.db", "--json")
    if back["code"] != 0:
        raise SystemExit("ledger copy back failed: " + back["stderr"])
    rows.append((f"ledger copy PostgreSQL -> SQLite, {n:,} invitations + responses", f"{back['wall']:.1f} s",
                 f"{back['peak_mib']:.0f} MiB", "every table: same rows and SHA-256"))
    (folder / "tierctl.yaml").write_text(RESPONSES_CONFIG.replace("sqlite:///state.db", "sqlite:///back.db"))
    lite = [measure(folder, "report", "--format", "json") for _ in range(3)]
    best_lite = min(lite, key=lambda r: r["wall"])
    lite_json = subprocess.run(TIERCTL + ["-c", "tierctl.yaml", "report", "--format", "json"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout
    rows.append(("peer: report --format json on the SQLite copy", f"{best_lite['wall']:.2f} s",
                 f"{best_lite['peak_mib']:.0f} MiB",
                 "same JSON as PostgreSQL" if lite_json == pg_json else "DIFFERENT JSON"))
    return rows


def bench_kill(rounds: int) -> list[tuple]:
    env = {**os.environ, "TIERCTL_KILL_ROUNDS": str(rounds)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           "tests/surveys/test_runners_postgres.py", "-k", "killed"], cwd=HERE.parent, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("kill test:")), "no result line")
    if proc.returncode:
        print(proc.stdout[-3000:], file=sys.stderr)
    return [(f"kill test: 1 of 3 runners SIGKILLed, {rounds} rounds", f"{wall:.0f} s", "",
             ("OK: " if proc.returncode == 0 else "FAILED: ") + line.removeprefix("kill test: "))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=100_000)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runners", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="the sink's answer time per POST")
    parser.add_argument("--concurrency", type=int, default=25, help="the webhook's requests in flight per runner")
    parser.add_argument("--kill-rounds", type=int, default=0)
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--skip-responses", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tierctl-bench-pg-"))
    rows: list[tuple] = []
    server = PostgresServer(durable=True).start()
    try:
        if not args.skip_send:
            rows += bench_send(folder, server, args.invitations, [int(c) for c in args.runners.split(",")],
                               args.latency_ms, args.concurrency)
        if not args.skip_responses:
            (folder / "responses").mkdir()
            rows += bench_responses(folder / "responses", server, args.responses)
        if args.kill_rounds:
            rows += bench_kill(args.kill_rounds)
    finally:
        print()
        print_table(rows)
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
