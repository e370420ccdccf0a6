"""Foundation benchmarks (issue: the tier model, plugins and ``tierctl render``), printed as a table.

1. ``tierctl --help`` start-up: median and min of N runs of the installed
   console script (target: < 150 ms).
2. Validating and rendering a generated config of 200 tiers (extends chains,
   surveys, every tier field): ``load_config`` + ``render_targets`` of both
   targets in-process, and ``tierctl render`` as a CLI subprocess (target:
   < 1 s each).

Run: ``.venv/bin/python benchmarks/bench_foundation.py [--tiers 200] [--runs 20]``.
Add ``--profile`` to print the top functions (cProfile) of one in-process run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_TARGET_S = 0.150
RENDER_TARGET_S = 1.0

TOUCH = ["tech-touch", "low-touch", "mid-touch", "high-touch"]
HOURS = ["business", "extended", "24x7"]
STATUSES = ["onboarding", "active", "at-risk", "churned"]


def generate_config(n_tiers: int, chain: int = 5, n_surveys: int = 20) -> str:
    """A config with ``n_tiers`` tiers in extends chains of ``chain`` tiers, using every tier field."""
    lines = [
        "version: 1",
        "organization:",
        "  name: Bench Analytics & Co",
        "  timezone: Europe/Amsterdam",
        "  support_url: https://bench.example/support",
        "  contact_email: success@bench.example",
        "  language: en",
        "  effective_date: 2027-01-01",
        "  severities: {urgent: Production is down., high: A key feature is broken., normal: A question.}",
        "tiers:",
    ]
    for i in range(n_tiers):
        tid = f"tier-{i:03d}"
        depth = i % chain
        lines.append(f"  {tid}:")
        if depth:
            lines.append(f"    extends: tier-{i - 1:03d}")
        lines += [
            f"    name: Tier {i} <Support> & more",
            f"    summary: Generated tier number {i}, level {depth} of its chain | with text to escape.",
            f"    touch_model: {TOUCH[depth % 4]}",
            f"    plans: [plan-{i}-a, plan-{i}-b]",
        ]
        if depth:
            lines += [
                f"    channels: [+channel-{depth}, -community]" if depth == 1 else f"    channels: [+channel-{depth}]",
                f"    response_targets: {{urgent: {max(1, 8 - depth)}h, high: {depth} business days}}",
                f"    agent_time_cap: {depth * 2}h/month",
                f"    named_contacts: {depth * 2 + 1}",
                "    contact_cadence:",
                f"      active: {{every: {max(1, 4 - depth)}w, channel: video, meeting: account-review}}",
                f"    surveys: [survey-{i % n_surveys:02d}, survey-{(i + 1) % n_surveys:02d}]",
                f"    sales: {{upsell: Upgrade when they outgrow level {depth}.}}",
            ]
        else:
            lines += [
                "    channels: [knowledge-base, community, email]",
                f"    hours: {HOURS[i % 3]}",
                "    response_targets: {urgent: 1 business day, high: 2 business days, normal: best effort}",
                "    agent_time_cap: 30m/month",
                "    named_contacts: 1",
                "    contact_cadence:",
                "      onboarding: {every: 7d, channel: email, automated: true}",
                "      active: {every: 90d, channel: email, automated: true}",
                f"    surveys: [survey-{i % n_surveys:02d}]",
                "    specialists: [integrations, reporting]",
                "    includes: [Onboarding webinar, Quarterly health check]",
                "    languages: [English, Dutch]",
                f"    price: EUR {i * 10} per month",
                "    escalation: Direct line to the support manager on duty.",
                "    sales:",
                f"      pitch: The pitch for tier {i}.",
                "      ideal_customer: Teams that need it.",
                "      talking_points: [Fast answers, Friendly people]",
                "      avoid: [Promising fixed resolution times]",
            ]
    lines.append("surveys:")
    for s in range(n_surveys):
        lines += [
            f"  survey-{s:02d}:",
            f"    title: Survey {s}",
            "    description: A generated survey.",
            "    questions:",
            '      - {id: nps, type: nps, text: "How likely are you to recommend us?"}',
            "      - {id: score, type: rating, text: Rate us, scale: [1, 10]}",
            "      - {id: pick, type: choice, text: Pick one, choices: [a, b, c]}",
        ]
    lines += [
        "render:",
        "  website: {format: html, out: build/site}",
        "  sales: {format: markdown, out: build/sales}",
    ]
    return "\n".join(lines) + "\n"


def console_script() -> str:
    here = Path(sys.executable).parent / "tierctl"
    found = str(here) if here.exists() else shutil.which("tierctl")
    if not found:
        sys.exit("tierctl is not installed in this environment (pip install -e .)")
    return found


def bench_help(script: str, runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([script, "--help"], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def bench_in_process(config: Path, runs: int, profile: bool) -> tuple[list[float], int]:
    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.render import render_targets

    times, files = [], 0
    for i in range(runs):
        out = config.parent / f"inproc-{i}"
        start = time.perf_counter()
        host = PluginHost.load()
        cfg = load_config(config, host)
        results = render_targets(cfg, host, out_override=str(out))
        times.append(time.perf_counter() - start)
        files = sum(len(r.written) for r in results)
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        host = PluginHost.load()
        render_targets(load_config(config, host), host, out_override=str(config.parent / "profiled"))
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return times, files


def bench_cli(script: str, config: Path, runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for i in range(runs):
        out = config.parent / f"cli-{i}"
        start = time.perf_counter()
        proc = subprocess.run([script, "-c", str(config), "render", "--out", str(out)], capture_output=True,
                              text=True, env=env)
        times.append(time.perf_counter() - start)
        if proc.returncode:
            sys.exit(f"tierctl render failed:\n{proc.stderr}")
    return times


def row(what: str, times: list[float], target: float) -> str:
    med, best = statistics.median(times), min(times)
    verdict = "yes" if med < target else "NO"
    goal = f"< {target * 1000:.0f} ms"
    return f"| {what:<52} | {med * 1000:>9.0f} | {best * 1000:>6.0f} | {len(times):>4} | {goal:<10} | {verdict:<4} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20, help="runs of tierctl --help")
    parser.add_argument("--render-runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    script = console_script()
    env = dict(os.environ)
    env.pop("TIERCTL_LOAD_PLUGINS", None)  # what a user gets: every installed plugin
    with tempfile.TemporaryDirectory(prefix="tierctl-bench-") as tmp:
        config = Path(tmp) / "tierctl.yaml"
        config.write_text(generate_config(args.tiers), encoding="utf-8")
        help_times = bench_help(script, args.runs, env)
        inproc, files = bench_in_process(config, args.render_runs, args.profile)
        cli = bench_cli(script, config, args.render_runs, env)

    print(f"\ntierctl foundation benchmark ({sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"{args.tiers} tiers -> {files} files)\n")
    print(f"| {'measurement':<52} | {'median ms':>9} | {'min ms':>6} | {'runs':>4} | {'target':<10} | met? |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 8}|{'-' * 6}|{'-' * 12}|{'-' * 6}|")
    print(row("tierctl --help (console script)", help_times, HELP_TARGET_S))
    print(row(f"load_config + render_targets, {args.tiers} tiers (in-proc)", inproc, RENDER_TARGET_S))
    print(row(f"tierctl render, {args.tiers} tiers (CLI subprocess)", cli, RENDER_TARGET_S))
    print("\nIn-process runs include loading the plugins; the first one also compiles the templates "
          f"({inproc[0] * 1000:.0f} ms).")


if __name__ == "__main__":
    main()
