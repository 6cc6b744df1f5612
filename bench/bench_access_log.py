"""Measure access-log import speed: lines per second parsed, and parsed and stored.

Generates a synthetic combined-format log (documentation addresses only), then
times the stages below in the same run, each in a fresh process (for its peak
memory), with the load average before and after:

1. baseline: the chunk regex alone (``findall``), no DataFrame, no storing;
2. parse: the full parse (timestamps, requests, rules, sessions), no storing;
3. import variants, each ``import_access_log`` end to end into the
   configured database, after which the batch is removed again:
   ``import-indexed`` keeps the activity indexes in place (the previous
   behaviour, the baseline), ``import`` uses the defaults (on SQLite, indexes
   rebuilt after a large load), ``import-1-worker`` and ``import-2-workers``
   add parser processes. "writer busy" is the time the writer thread spent
   storing rows, overlapping the parse; CPU includes the parser processes.

Usage: [DATABASE_URL=postgres://...] python bench/bench_access_log.py [--lines N]
[--repeat N]
"""

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")

import django  # noqa: E402

django.setup()

from activities.importers import service  # noqa: E402
from activities.importers.parser import (  # noqa: E402
    CHUNK_REGEX,
    RejectedLines,
    hash_content,
    iter_text_chunks,
    open_log,
    parse_chunk,
)
from activities.importers.rules import DEFAULT_RULES, assign_actions  # noqa: E402
from activities.importers.service import import_access_log, remove_import  # noqa: E402
from activities.importers.sessions import SessionTracker  # noqa: E402

PATHS = [
    "/",
    "/products/{n}",
    "/search?q=shoes+{n}",
    "/login",
    "/cart/add",
    "/static/app.{n}.js",
    "/blog/2024/post-{n}.html",
    "/wp-login.php",
]
METHODS = ["GET", "GET", "GET", "POST", "POST", "GET", "GET", "POST"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    'curl/8.5.0 \\"quoted\\"',
    "python-requests/2.31",
]


def write_log(path, lines, seed=7):
    """Write ``lines`` synthetic combined-format lines to ``path``."""
    rng = np.random.default_rng(seed)
    clients = np.array(
        [f"192.0.2.{i}" for i in range(1, 255)]
        + [f"198.51.100.{i}" for i in range(1, 255)]
        + [f"2001:db8::{i:x}" for i in range(1, 255)]
    )
    start = np.datetime64("2024-03-01T00:00:00")
    seconds = np.sort(rng.integers(0, 7 * 86400, lines))
    with path.open("w", encoding="utf-8") as out:
        for offset in range(0, lines, 100_000):
            count = min(100_000, lines - offset)
            kind = rng.integers(0, len(PATHS), count)
            times = start + seconds[offset : offset + count].astype("timedelta64[s]")
            stamps = [t.item().strftime("%d/%b/%Y:%H:%M:%S +0100") for t in times]
            client = rng.choice(clients, count)
            status = rng.choice([200, 200, 200, 302, 404, 401], count)
            size = rng.integers(100, 50_000, count)
            agent = rng.choice(len(AGENTS), count)
            numbers = rng.integers(1, 5000, count)
            out.writelines(
                f'{client[i]} - - [{stamps[i]}] "{METHODS[kind[i]]} '
                f'{PATHS[kind[i]].format(n=numbers[i])} HTTP/1.1" {status[i]} '
                f'{size[i]} "https://shop.example/" "{AGENTS[agent[i]]}"\n'
                for i in range(count)
            )


def time_baseline(path):
    """Run the chunk regex alone and return (lines, seconds, note)."""
    started = time.perf_counter()
    lines = 0
    with open_log(path) as stream:
        for _, text in iter_text_chunks(stream):
            lines += len(CHUNK_REGEX.findall(text))
    return lines, time.perf_counter() - started, ""


def time_parse(path):
    """Parse and assign actions and sessions without storing them."""
    started = time.perf_counter()
    rejected = RejectedLines()
    tracker = SessionTracker(hash_content(path))
    lines = 1
    parsed = 0
    with open_log(path) as stream:
        for _, text in iter_text_chunks(stream):
            frame = parse_chunk(text, lines, rejected)
            lines += text.count("\n")
            frame["action_type"] = assign_actions(frame, DEFAULT_RULES)
            frame["session_id"] = tracker.assign(frame)
            parsed += len(frame)
    return parsed, time.perf_counter() - started, ""


def import_timer(parser_workers=0, defer_indexes=True):
    """Return a stage that imports end to end, then removes the batch."""

    def time_import(path):
        if not defer_indexes:
            service.SQLITE_BULK_MIN_LINES = float("inf")
        started = time.perf_counter()
        result = import_access_log(path, parser_workers=parser_workers)
        elapsed = time.perf_counter() - started
        remove_import(result.batch.pk)
        indexes = "rebuilt" if result.deferred_indexes else "kept"
        return (
            result.imported,
            elapsed,
            f"writer busy {result.write_seconds:.2f} s, indexes {indexes}",
        )

    return time_import


STAGES = {
    "baseline": ("baseline regex findall", time_baseline),
    "parse": ("parse + rules + sessions", time_parse),
    "import-indexed": ("import, indexes kept", import_timer(defer_indexes=False)),
    "import": ("import (defaults)", import_timer()),
    "import-1-worker": ("import, 1 parser process", import_timer(1)),
    "import-2-workers": ("import, 2 parser processes", import_timer(2)),
}


def run_stage(name, path):
    """Run one stage in this process and print its figures as one line."""
    label, stage = STAGES[name]
    load_before = os.getloadavg()[0]
    before = os.times()
    count, seconds, note = stage(path)
    after = os.times()
    # This process and its finished children (the parser processes).
    cpu = sum(after[:4]) - sum(before[:4])
    load_after = os.getloadavg()[0]
    # ru_maxrss is in KiB on Linux: the peak of this process, which ran only
    # this stage.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<28} {count:>9,} lines {seconds:6.2f} s {count / seconds:>9,.0f} "
        f"lines/s  CPU {cpu:5.2f} s  peak {peak_mib:4.0f} MiB  load {load_before:.1f}->"
        f"{load_after:.1f}  {note}".rstrip(),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds of all the stages."
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args.file)
        return
    from django.db import connection

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench-access.log"
        write_log(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        print(
            f"{args.lines:,} lines, {size_mb:.1f} MB; database {connection.vendor}; "
            f"Python {platform.python_version()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs"
        )
        # Each stage runs in a fresh process so that its peak memory is its own.
        for _ in range(args.repeat):
            for name in STAGES:
                subprocess.run(
                    [sys.executable, __file__, "--stage", name, "--file", str(path)],
                    check=True,
                )


if __name__ == "__main__":
    main()
