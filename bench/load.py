"""Drive the real HTTP server with bulk event posts while a worker runs detection.

Run from the project folder:

    python bench/load.py                                  # throwaway SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
    REDIS_URL=redis://127.0.0.1:6379/4 python bench/load.py --postgres

Everything runs on this machine and talks over 127.0.0.1 only:

1. a throwaway database: a new SQLite file, or with ``--postgres`` the database
   that DATABASE_URL names, migrated and then EMPTIED with ``flush``;
2. ``simulate`` fills a small shop, ``train`` trains every detector on it, and a
   staff user with an API token is created;
3. gunicorn (``--server runserver`` for Django's own server) listens on a free
   port of 127.0.0.1, and one ``qcluster`` worker runs the task queue;
4. ``POST /api/anomalies/detect`` with ``"background": true`` queues detection
   of every detector, so the worker reads events and writes findings while
5. ``--clients`` threads (default 4) each post ``--events`` events (default
   10,000) in batches of ``--batch`` (default 100) to ``/api/activities/``.
   The run stops when every event is sent or after ``--time-limit`` seconds.

The per-account API throttle (default 6000/minute) would reject most of this
load with 429, so the server and worker get ``ANOMALENS_THROTTLE_USER`` set to
``--throttle`` (default 1000000/minute). The report gives requests per second,
p50/p99 latency, the count of 5xx responses (must be 0) and the events stored
against the events sent (must be equal, counted in the database afterwards).
A first round posts the same events with no detection running, as the
baseline. The script exits with status 1 when a check fails in either round or
a detection run fails. Every process it started
is stopped before it exits, on success, failure or Ctrl-C.
"""

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEED = 2024


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    """Run one management command and exit with its output when it fails."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def start(command, env, log_path):
    """Start a long-running child in its own process group, logging to a file."""
    log = open(log_path, "w")  # noqa: SIM115 - closed by the caller via stop()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log = log
    return process


def stop(process, grace=15):
    """Stop a child started by start(), its process group included."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    process.log.close()


def request(url, token, body=None, timeout=60):
    """Send one JSON request and return its status, parsed body and seconds taken."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    elapsed = time.perf_counter() - began
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw[:500].decode(errors="replace")
    return status, payload, elapsed


def wait_for_server(base, token, process, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The web server exited with status {process.returncode}.")
        try:
            status, _, _ = request(f"{base}/api/runs/?limit=1", token, timeout=5)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(
        f"The web server did not respond on {base} within {limit} s. See {process.log.name}."
    )


def client(index, args, base, token, customers, prefix, deadline, results):
    """Post one client's events in batches and record each request's status and time."""
    own = customers[index :: args.clients] or customers
    sent = 0
    batch_no = 0
    while sent < args.events and time.monotonic() < deadline:
        size = min(args.batch, args.events - sent)
        session = f"{prefix}-c{index}-b{batch_no}"
        events = [
            {
                "customer_id": own[(sent + offset) % len(own)],
                "session_id": session,
                "action_type": "view_product" if offset % 5 else "search",
                "details": (
                    {"product_id": 1 + offset} if offset % 5 else {"query": "load"}
                ),
                "ip_address": f"10.0.{index}.{offset % 250 + 1}",
                "user_agent": "anomalens-load/1.0",
            }
            for offset in range(size)
        ]
        try:
            status, payload, elapsed = request(f"{base}/api/activities/", token, events)
        except OSError as exc:
            results.append((index, None, 0.0, 0, f"{type(exc).__name__}: {exc}"))
            break
        accepted = size if status == 201 else 0
        note = "" if status == 201 else f"{status}: {str(payload)[:200]}"
        results.append((index, status, elapsed, accepted, note))
        sent += size
        batch_no += 1


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--server", choices=["gunicorn", "runserver"], default="gunicorn"
    )
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--throttle", default="1000000/minute")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, logs)"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    folder = Path(tempfile.mkdtemp(prefix="anomalens-load-"))
    env = dict(os.environ)
    if args.postgres:
        if not env.get("DATABASE_URL", "").startswith("postgres"):
            raise SystemExit("--postgres needs DATABASE_URL=postgres://... to be set.")
    else:
        env["DATABASE_URL"] = f"sqlite:///{folder / 'load.sqlite3'}"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "anomalens_site.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "ANOMALENS_MEDIA_ROOT": str(folder / "media"),
            "ANOMALENS_THROTTLE_USER": args.throttle,
            "ANOMALENS_Q_WORKERS": "1",
            "ANOMALENS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    processes = []
    try:
        return run(args, env, folder, processes)
    finally:
        for process in reversed(processes):
            stop(process)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(folder)], check=False)


def run(args, env, folder, processes):
    print(f"database   {env['DATABASE_URL'].split('@')[-1]}")
    print(
        f"broker     {'redis ' + env['REDIS_URL'] if env.get('REDIS_URL') else 'ORM'}"
    )
    print(f"throttle   ANOMALENS_THROTTLE_USER={args.throttle} (raised for this run)")
    began = time.perf_counter()
    manage(env, "migrate", "--noinput", "-v", "0")
    if args.postgres:
        # Rows posted by an earlier load run reference simulated customers, which
        # would block simulate --reset, so the load database starts empty.
        manage(env, "flush", "--noinput")
    manage(
        env,
        *("simulate", "--reset", "--seed", str(SEED), "--customers", "500"),
        *("--activities", str(args.activities), "--orders", str(args.orders)),
    )
    manage(env, "train", "--entity", "all")
    print(f"prepare    migrate, simulate, train: {time.perf_counter() - began:.1f} s")

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from anomalies.models import Finding, Run
    from store.models import Customer

    user, _ = get_user_model().objects.update_or_create(
        username="load-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    token = Token.objects.get_or_create(user=user)[0].key
    customers = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:400])
    connection.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if args.server == "gunicorn":
        command = [
            *(PYTHON, "-m", "gunicorn", "anomalens_site.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers)),
            *("--timeout", "120", "--log-level", "warning"),
        ]
    else:
        command = [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    processes.append(start(command, env, folder / "web.log"))
    processes.append(
        start([PYTHON, "manage.py", "qcluster"], env, folder / "worker.log")
    )
    wait_for_server(base, token, processes[0])
    print(f"server     {args.server} on {base}, {args.web_workers} workers; 1 qcluster")

    baseline = load_round(args, base, token, customers)
    report("baseline", "the same posts, no detection running", baseline, args)

    status, payload, _ = request(
        f"{base}/api/anomalies/detect",
        token,
        {"entity_type": "all", "background": True},
    )
    if status != 202:
        raise SystemExit(f"Queueing detection failed: {status} {payload}")
    run_ids = payload["run_ids"]
    loaded = load_round(args, base, token, customers)
    report("load", "posts while the worker runs detection", loaded, args)

    # Let the queued detection finish (bounded) so its overlap can be reported.
    finish_by = time.monotonic() + max(60.0, args.time_limit / 2)
    while time.monotonic() < finish_by:
        open_runs = Run.objects.filter(pk__in=run_ids).exclude(
            status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED]
        )
        if not open_runs.exists():
            break
        time.sleep(0.5)
    runs = list(Run.objects.filter(pk__in=run_ids).order_by("pk"))
    findings = Finding.objects.filter(run_id__in=run_ids).count()
    connection.close()

    statuses = ", ".join(f"{r.detector}/{r.entity_type} {r.status}" for r in runs)
    done = [r.finished_at for r in runs if r.finished_at]
    first = min((r.started_at for r in runs if r.started_at), default=None)
    span = (max(done) - first).total_seconds() if done and first else float("nan")
    print()
    print(f"detection  {len(runs)} runs: {statuses}")
    print(f"           {findings:,} findings written in {span:.1f} s")
    if done and first:
        overlap = min(max(done).timestamp(), loaded["end"]) - max(
            first.timestamp(), loaded["start"]
        )
        print(f"overlap    detection ran during {max(overlap, 0):.1f} s of the load")
    failed = baseline["failed"] or loaded["failed"]
    failed = failed or any(r.status != Run.Status.SUCCEEDED for r in runs)
    print("result     " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


def load_round(args, base, token, customers):
    """Post every client's events in parallel; count what the database stored."""
    from django.db import connection

    from activities.models import UserActivity

    prefix = f"load-{uuid.uuid4().hex[:12]}"
    results = []
    deadline = time.monotonic() + args.time_limit
    threads = [
        threading.Thread(
            target=client,
            args=(i, args, base, token, customers, prefix, deadline, results),
        )
        for i in range(args.clients)
    ]
    began = time.perf_counter()
    start_wall = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    end_wall = time.time()
    stored = UserActivity.objects.filter(session_id__startswith=prefix + "-").count()
    connection.close()

    accepted = sum(count for _, status, _, count, _ in results if status == 201)
    planned = args.clients * args.events
    server_errors = [r for r in results if r[1] is None or r[1] >= 500]
    return {
        "results": results,
        "wall": wall,
        "start": start_wall,
        "end": end_wall,
        "stored": stored,
        "accepted": accepted,
        "planned": planned,
        "latencies": [elapsed for _, status, elapsed, _, _ in results if status],
        "server_errors": server_errors,
        "other": [r for r in results if r[1] and r[1] != 201 and r[1] < 500],
        "failed": bool(server_errors) or stored != accepted or accepted != planned,
    }


def report(name, description, stats, args):
    """Print one load round's throughput, latency and counts."""
    results, wall, latencies = stats["results"], stats["wall"], stats["latencies"]
    print()
    print(f"{name:<10} {description}")
    print(
        f"requests   {len(results):,} in {wall:.1f} s: {len(results) / wall:,.0f} req/s"
        f" ({args.clients} clients, {args.batch} events each)"
    )
    print(
        f"events     {stats['accepted']:,} accepted of {stats['planned']:,} planned: "
        f"{stats['accepted'] / wall:,.0f}/s"
    )
    print(
        f"latency    p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies, default=0) * 1000:.0f} ms"
    )
    print(f"5xx        {len(stats['server_errors'])}")
    print(f"other      {len(stats['other'])} responses other than 201 below 500")
    print(f"stored     {stats['stored']:,} events in the database")
    for _, _, _, _, note in (stats["server_errors"] + stats["other"])[:5]:
        print(f"  example  {note}")


if __name__ == "__main__":
    sys.exit(main())
