"""Time a bulk POST of 10,000 activity events through the API, against bulk_create.

Usage::

    .venv/bin/python bench/bench_bulk_ingest.py [--events 10000] [--repeats 5]

The request runs in-process through Django's test client (no HTTP socket),
with token authentication, so the figure covers parsing, validation, the
customer check, the insert and the response. The baseline inserts the same
rows with one plain ``bulk_create`` and no validation. Without DATABASE_URL
the script uses a fresh SQLite file in a temporary folder. With DATABASE_URL
it migrates that database, and it deletes every row it wrote before exiting.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="number of events in each POST (default: 10000)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs of the POST and of the baseline (default: 5)",
    )
    return parser.parse_args()


def setup_django():
    if not os.environ.get("DATABASE_URL"):
        folder = tempfile.mkdtemp(prefix="anomalens-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
        os.environ["ANOMALENS_VAR_DIR"] = folder
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    os.environ.setdefault("ANOMALENS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("ANOMALENS_THROTTLE_USER", "100000/minute")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_events(count, customer_ids):
    return [
        {
            "customer_id": customer_ids[index % len(customer_ids)]
            if index % 3
            else None,
            "session_id": f"bench-{index % 700}",
            "timestamp": f"2025-01-01T{index % 24:02d}:{index % 60:02d}:00Z",
            "action_type": "view_product",
            "details": {"product_id": index % 40},
            "ip_address": f"10.0.{index % 250}.{index % 200}",
            "user_agent": "bench/1.0",
        }
        for index in range(count)
    ]


def main():
    args = parse_args()
    setup_django()
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from activities.models import UserActivity
    from store.models import Customer

    user = User.objects.create_superuser(
        f"bench-{time.time_ns()}", password=None, email=""
    )
    token = Token.objects.create(user=user)
    customers = Customer.objects.bulk_create(
        Customer(email=f"bench-{time.time_ns()}-{i}@example.com") for i in range(200)
    )
    customer_ids = [customer.pk for customer in customers]
    events = make_events(args.events, customer_ids)
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    api_seconds, baseline_seconds = [], []
    try:
        for _ in range(args.repeats):
            started = time.perf_counter()
            response = client.post("/api/activities/", events, format="json")
            api_seconds.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise SystemExit(
                    f"POST failed: {response.status_code} {response.content[:500]!r}"
                )
            UserActivity.objects.filter(session_id__startswith="bench-").delete()

            rows = [
                UserActivity(
                    customer_id=event["customer_id"],
                    session_id=event["session_id"],
                    timestamp=event["timestamp"],
                    action_type=event["action_type"],
                    details=event["details"],
                    ip_address=event["ip_address"],
                    user_agent=event["user_agent"],
                )
                for event in events
            ]
            started = time.perf_counter()
            UserActivity.objects.bulk_create(rows, batch_size=1_000)
            baseline_seconds.append(time.perf_counter() - started)
            UserActivity.objects.filter(session_id__startswith="bench-").delete()
    finally:
        UserActivity.objects.filter(session_id__startswith="bench-").delete()
        Customer.objects.filter(pk__in=customer_ids).delete()
        user.delete()

    def line(name, seconds):
        median = statistics.median(seconds)
        return (
            f"{name:<34} median {median:6.3f} s  min {min(seconds):6.3f} s  "
            f"{args.events / median:9,.0f} events/s"
        )

    sys.stdout.write(
        f"backend: {connection.vendor}, events per request: {args.events:,}, "
        f"repeats: {args.repeats}\n"
    )
    sys.stdout.write(line("POST /api/activities/ (full)", api_seconds) + "\n")
    sys.stdout.write(line("bulk_create only (baseline)", baseline_seconds) + "\n")


if __name__ == "__main__":
    main()
