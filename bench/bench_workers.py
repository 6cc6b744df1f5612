"""Time queued detection runs with one and with two django-q2 worker processes.

Run from the project folder:

    python bench/bench_workers.py                         # throwaway SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
    REDIS_URL=redis://127.0.0.1:6379/4 python bench/bench_workers.py --postgres

The script migrates a throwaway database (with ``--postgres`` the database that
DATABASE_URL names, EMPTIED with ``flush``), simulates ``--activities`` events
and trains the Z-score and Isolation Forest detectors on activity events. Then it
measures the same 4 detection runs (both detectors, twice) three ways:

* ``inline``: ``start_runs(..., background=False)`` in this process, one run
  after the other, as the baseline with no queue at all;
* ``1 worker`` and ``2 workers``: ``manage.py qcluster`` started with
  ``ANOMALENS_Q_WORKERS`` set to 1 or 2, the 4 runs queued through
  ``start_runs(..., background=True)`` (the real django-q2 ``async_task``), and
  the time taken from queueing until the last run is finished.

The cluster is stopped after each measurement. The script exits with status 1
when a run fails or does not finish within ``--time-limit`` seconds.
"""

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import PYTHON, ROOT, manage, start, stop  # noqa: E402

DETECTORS = ["statistical_zscore", "isolation_forest"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--activities", type=int, default=300_000)
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    folder = Path(tempfile.mkdtemp(prefix="anomalens-workers-"))
    env = dict(os.environ)
    if args.postgres:
        if not env.get("DATABASE_URL", "").startswith("postgres"):
            raise SystemExit("--postgres needs DATABASE_URL=postgres://... to be set.")
    else:
        env["DATABASE_URL"] = f"sqlite:///{folder / 'workers.sqlite3'}"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "anomalens_site.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ANOMALENS_MEDIA_ROOT": str(folder / "media"),
            "ANOMALENS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    try:
        return run(args, env, folder)
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def run(args, env, folder):
    print(f"database   {env['DATABASE_URL'].split('@')[-1]}")
    print(
        f"broker     {'redis ' + env['REDIS_URL'] if env.get('REDIS_URL') else 'ORM'}"
    )
    print(f"cpus       {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f}")
    manage(env, "migrate", "--noinput", "-v", "0")
    if args.postgres:
        manage(env, "flush", "--noinput")
    manage(
        env,
        *("simulate", "--seed", "2024", "--customers", "2000"),
        *("--activities", str(args.activities), "--orders", "2000"),
    )
    manage(
        env,
        *("train", "--entity", "activity", "--algorithms", ",".join(DETECTORS)),
    )

    import django

    django.setup()
    from django.db import connection

    from anomalies.models import Run
    from anomalies.services import start_runs

    def queue():
        runs = []
        for _ in range(2):
            runs += start_runs("detect", ["activity"], DETECTORS, background=True)
        return [run.pk for run in runs]

    print(f"runs       4 detection runs ({', '.join(DETECTORS)}, twice) on activity")
    print()
    print("| setup | time | runs/min | load after |")
    print("|---|---|---|---|")
    began = time.perf_counter()
    for _ in range(2):
        start_runs("detect", ["activity"], DETECTORS, background=False)
    inline = time.perf_counter() - began
    print(row("inline, one after another", inline))

    failed = False
    for count in [int(item) for item in args.workers.split(",") if item]:
        worker_env = dict(env, ANOMALENS_Q_WORKERS=str(count))
        cluster = start([PYTHON, "manage.py", "qcluster"], worker_env, folder / "q.log")
        try:
            # Give the cluster time to start its processes before timing.
            time.sleep(3)
            began = time.perf_counter()
            run_ids = queue()
            connection.close()
            deadline = time.monotonic() + args.time_limit
            while time.monotonic() < deadline:
                open_runs = Run.objects.filter(pk__in=run_ids).exclude(
                    status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED]
                )
                if not open_runs.exists():
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - began
            statuses = set(
                Run.objects.filter(pk__in=run_ids).values_list("status", flat=True)
            )
            connection.close()
        finally:
            stop(cluster)
        name = f"{count} worker{'s' if count > 1 else ''}, queued"
        print(row(name, elapsed))
        if statuses != {Run.Status.SUCCEEDED}:
            print(f"           runs ended {sorted(statuses)}; see the worker log")
            failed = True
    return 1 if failed else 0


def row(name, seconds):
    return f"| {name} | {seconds:.1f} s | {4 * 60 / seconds:.1f} | {os.getloadavg()[0]:.2f} |"


if __name__ == "__main__":
    sys.exit(main())
