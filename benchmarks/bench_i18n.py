"""Languages benchmark (issue #12), printed beside its floors measured in the same run.

1. ``tierctl --help`` start-up with the i18n wing installed (target < 150 ms), beside a bare
   ``python -c pass`` (the floor no CLI can beat); Babel must not be imported.
2. ``render_targets`` (the config loaded once) of the generated 200-tier config (bench_foundation's): in English
   (the floor: no catalog), in Dutch (translated text, CLDR formats), and in two languages at once
   (``languages: [nl, en]``: one site each). Target: Dutch within 1.5x English, two languages
   within 2.5x one.
3. Reading the Dutch catalog with Babel the first time in a process (target < 150 ms).
4. Building 2,000 invitation e-mails in German vs in English (target: German within 1.5x).
5. ``tierctl report --format html`` over 30,000 responses (3 tiers, 8 quarters; bench_responses' data) in Dutch
   (period labels, numbers and text from the catalogs and CLDR) vs in English, as CPU time of the process,
   runs interleaved (target: Dutch within 1.5x).

Run: ``.venv/bin/python benchmarks/bench_i18n.py [--tiers 200] [--runs 10]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_foundation import console_script, generate_config  # noqa: E402
from table import print_table  # noqa: E402

HELP_TARGET_S = 0.150
CATALOG_TARGET_S = 0.150


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def bench_help(runs: int) -> tuple[list[float], list[float], bool]:
    script = console_script()
    env = {k: v for k, v in os.environ.items() if k != "TIERCTL_LOAD_PLUGINS"}
    help_times = timed(lambda: subprocess.run([script, "--help"], check=True, capture_output=True, env=env), runs)
    floor = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True, capture_output=True), runs)
    probe = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['tierctl', '--help']\n"
                            "from tierctl.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
                            "print('babel' in sys.modules, file=sys.stderr)"], capture_output=True, text=True, env=env)
    return help_times, floor, probe.stderr.strip().endswith("False")


def bench_render(folder: Path, text: str, runs: int) -> list[float]:
    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.publish.render_engine import render_targets

    config = folder / "tierctl.yaml"
    config.write_text(text, encoding="utf-8")
    host = PluginHost.load()
    loaded = load_config(config, host)  # loading is the same work in every language: time the rendering

    def once() -> None:
        render_targets(loaded, host, out_override=str(folder / "out"))

    once()  # compile the templates once, as every later run in a process finds them
    return timed(once, runs)


def bench_catalog() -> float:
    code = ("import time; from tierctl.i18n.catalogs import translations; t = time.perf_counter(); "
            "translations('nl'); print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def bench_mail(n: int, runs: int) -> tuple[list[float], list[float]]:
    from tierctl.plugins.email_message import EmailOptions, build_message
    from tierctl.testing.samples import invitation, sample_config

    options = EmailOptions.model_validate({"survey_url": "https://form.example/s#invite_id={invite_id}"})
    organization = sample_config(languages=["en", "de"]).organization
    english = [invitation(i, locale="en") for i in range(n)]
    german = [invitation(i, locale="de") for i in range(n)]

    def build(invitations) -> None:
        for inv in invitations:
            build_message(inv, options, None, organization)

    build(english[:10])
    build(german[:10])
    return timed(lambda: build(english), runs), timed(lambda: build(german), runs)


def bench_report(folder: Path, n: int, runs: int) -> tuple[list[float], list[float]]:
    """Wall time of ``report --format html`` in English and in Dutch over the same ledger."""
    from bench_responses import TIERCTL, generate

    generate(folder, n)
    # The data runs to the end of 2026: import as of after it, so no answer is "in the future".
    subprocess.run([*TIERCTL, "-c", "tierctl.yaml", "survey", "import", "responses.csv", "--survey",
                    "product-feedback", "--now", "2027-01-15T00:00:00Z"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)

    def report(language: str) -> float:
        """The CPU time (user + system) of one report process: on a machine shared with other work,
        wall time mostly measures the neighbours."""
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([*TIERCTL, "-c", "tierctl.yaml", "report", "--format", "html", "--language", language],
                             cwd=folder, check=True, stdout=subprocess.PIPE).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if language == "nl" and b"K4 2026" not in out:
            raise SystemExit("the Dutch report does not label its periods in Dutch")
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    report("en")
    report("nl")
    english, dutch = [], []
    for _ in range(runs):  # interleaved, so both see the same load
        english.append(report("en"))
        dutch.append(report("nl"))
    return english, dutch


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--responses", type=int, default=30_000)
    args = parser.parse_args()

    help_times, floor, no_babel = bench_help(args.runs * 2)
    base = generate_config(args.tiers)
    with tempfile.TemporaryDirectory(prefix="tierctl-i18n-") as tmp:
        root = Path(tmp)
        variants = {}
        for name, text in (("en", base), ("nl", base.replace("  language: en", "  language: nl")),
                           ("nl+en", base.replace("  language: en", "  languages: [nl, en]"))):
            (root / name).mkdir()
            variants[name] = bench_render(root / name, text, args.runs)
        (root / "report").mkdir()
        report_en, report_nl = bench_report(root / "report", args.responses, max(5, args.runs))
    catalog = bench_catalog()
    mail_en, mail_de = bench_mail(args.mails, max(3, args.runs // 3))

    en, nl, both = (statistics.median(variants[k]) for k in ("en", "nl", "nl+en"))
    rows = [
        ("tierctl --help", ms(help_times), f"python -c pass: {ms(floor)}",
         f"< {HELP_TARGET_S * 1000:.0f} ms: {'yes' if statistics.median(help_times) < HELP_TARGET_S else 'NO'}; "
         f"Babel not imported: {'yes' if no_babel else 'NO'}"),
        (f"render {args.tiers} tiers in Dutch", ms(variants["nl"]), f"in English: {ms(variants['en'])}",
         f"< 1.5x English ({nl / en:.2f}x): {'yes' if nl < 1.5 * en else 'NO'}"),
        (f"render {args.tiers} tiers, languages [nl, en]", ms(variants["nl+en"]), f"one language: {ms(variants['nl'])}",
         f"< 2.5x one ({both / nl:.2f}x): {'yes' if both < 2.5 * nl else 'NO'}"),
        ("first read of the nl catalog", f"{catalog * 1000:.0f}", "-",
         f"< {CATALOG_TARGET_S * 1000:.0f} ms: {'yes' if catalog < CATALOG_TARGET_S else 'NO'}"),
        (f"{args.mails} invitations in German", ms(mail_de), f"in English: {ms(mail_en)}",
         f"< 1.5x English ({statistics.median(mail_de) / statistics.median(mail_en):.2f}x): "
         f"{'yes' if statistics.median(mail_de) < 1.5 * statistics.median(mail_en) else 'NO'}"),
        (f"report --format html, {args.responses} responses, in Dutch (CPU)", ms(report_nl),
         f"in English: {ms(report_en)}",
         f"< 1.5x English ({statistics.median(report_nl) / statistics.median(report_en):.2f}x): "
         f"{'yes' if statistics.median(report_nl) < 1.5 * statistics.median(report_en) else 'NO'}"),
    ]
    print(f"\ntierctl languages benchmark ({sys.version.split()[0]}, {os.cpu_count()} CPUs; medians)\n")
    print_table(rows, header=("measurement", "ms", "floor / peer (ms)", "target: met?"))


if __name__ == "__main__":
    main()
