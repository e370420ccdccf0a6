"""The ``ical`` source reading the survey plan benchmark's calendar, in CPU seconds.

`survey plan` reads a big calendar in a fork while the contacts are decided
on the machine's cores, so every CPU second of the read is taken from them.
The calendar is bench_survey's: 20,000 weekly meetings (5 MB), read for a
window of two days from 2026-11-23T08:00Z, as the plan benchmark does.

Printed beside, from the same run: the floor (decoding the file and
splitting it into lines) and the peer (the pre-filter's general reader
alone, line by line, as every event was read before the fast reader; it
shares the fast reader's caches, so it is faster than the code before).
Target: at most 0.35 s of CPU, half the 0.72 s the code before took
(commit d4a703a, same data).

Run: ``.venv/bin/python benchmarks/bench_ical.py [--meetings N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench_survey import CONFIG, generate  # benchmarks/ is on sys.path when run as a script
from table import print_table

NOW = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)

COLD = """\
import sys, time
started = time.process_time()
from tierctl.config.loader import load_config
from tierctl.host.plugin_host import PluginHost
from tierctl.surveys.instances import build_meeting_source
from datetime import datetime, timedelta, timezone
host = PluginHost.load()
source = build_meeting_source(load_config(sys.argv[1], host), host)
now = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
ready = time.process_time()
found = list(source.meetings(now, now + timedelta(days=2), print))
print(time.process_time() - ready, len(found), "icalendar" in sys.modules)
"""


def best_cpu(read, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = read()
        best = min(best, time.process_time() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.plugins import ical_prefilter
    from tierctl.surveys.instances import build_meeting_source

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tierctl.yaml").write_text(CONFIG.format(provider="box", port=0))
        generate(folder, contacts=args.meetings, meetings=args.meetings, per_account=1)  # the CSV is not read
        host = PluginHost.load()
        source = build_meeting_source(load_config(folder / "tierctl.yaml", host), host)
        window = (NOW, NOW + timedelta(days=2))
        raw_path = folder / "meetings.ics"

        floor, _ = best_cpu(lambda: raw_path.read_bytes().decode("utf-8-sig", "replace").split("\n"), args.repeat)
        read, found = best_cpu(lambda: list(source.meetings(*window, print)), args.repeat)
        fast_event = ical_prefilter._Slim.fast_event
        ical_prefilter._Slim.fast_event = lambda self, body, eol: False
        try:
            peer, general = best_cpu(lambda: list(source.meetings(*window, print)), args.repeat)
        finally:
            ical_prefilter._Slim.fast_event = fast_event
        if general != found:
            raise SystemExit("the general reader gave other meetings than the fast one")
        cold = subprocess.run([sys.executable, "-c", COLD, str(folder / "tierctl.yaml")], capture_output=True,
                              text=True, check=True).stdout.split()
        size = raw_path.stat().st_size

    per_event = read / args.meetings * 1e6
    print(f"ical source: {args.meetings:,} weekly meetings ({size / 1e6:.1f} MB), {len(found):,} occurrences "
          f"in the window; CPU seconds, best of {args.repeat}")
    print_table([
        ("read (fast reader)", f"{read:.3f} s", f"{per_event:.1f} µs/event", "target <= 0.35 s: "
         + ("met" if read <= 0.35 else "MISSED")),
        ("first read in a fresh process", f"{float(cold[0]):.3f} s", "",
         f"icalendar imported: {'yes' if cold[2] == 'True' else 'no'}"),
        ("peer: line-by-line reader only", f"{peer:.3f} s", f"{peer / read:.1f}x the read", "same meetings"),
        ("floor: decode + split lines", f"{floor:.3f} s", f"read = {read / floor:.1f}x floor", ""),
    ], header=("measure", "CPU", "ratio", "note"))


if __name__ == "__main__":
    main()
