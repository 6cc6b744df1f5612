"""Benchmark the simulator: 1,000,000 activities and 50,000 orders, end to end.

Run from the project folder:

    python bench/bench_simulator.py                 # SQLite in a temporary folder
    DATABASE_URL=postgres://... python bench/bench_simulator.py --keep-database

The end-to-end time starts before Django is imported and covers start-up,
generation, labels and writes; the schema migration is timed apart. The
baseline re-inserts the same stored activity rows into an empty copy of the
table (same columns and indexes) with the standard library's sqlite3
executemany, in one transaction, in the same process.
"""

import argparse
import os
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="anomalens-bench-")
    if not args.keep_database:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    os.environ.setdefault("ANOMALENS_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))

    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    migrate_start = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_seconds = time.perf_counter() - migrate_start

    from simulator.config import SimulationConfig
    from simulator.engine import reset_simulated_data, run_simulation

    if args.keep_database:
        reset_simulated_data()
    config = SimulationConfig(
        customers=args.customers,
        products=args.products,
        orders=args.orders,
        activities=args.activities,
        order_anomaly_rate=0.05,
        activity_anomaly_rate=0.05,
        seed=2024,
        end=datetime(2025, 6, 1, tzinfo=UTC),
    )
    run_start = time.perf_counter()
    result = run_simulation(config)
    run_end = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    end_to_end = (run_end - STARTED) - migrate_seconds
    rows = sum(result.counts[k] for k in ("activities", "orders", "order_items"))
    rows += result.counts["labels"]
    write_rate = rows / result.seconds["write"]
    print(f"database          {connection.vendor}")
    print(
        f"end to end        {end_to_end:.1f} s (migration {migrate_seconds:.1f} s apart)"
    )
    print(f"run_simulation    {run_end - run_start:.1f} s")
    print(f"  generate        {result.seconds['generate']:.1f} s")
    print(
        f"  write           {result.seconds['write']:.1f} s, {rows:,} rows, "
        f"{write_rate:,.0f} rows/s"
    )
    print(f"peak memory       {peak_mib:,.0f} MiB (max RSS)")
    print(f"counts            {result.counts}")
    if connection.vendor == "sqlite":
        raw_rate = raw_baseline(connection.settings_dict["NAME"], folder)
        print(f"raw sqlite3       {raw_rate:,.0f} activity rows/s")
        activity_rate = result.counts["activities"] / result.seconds["write"]
        print(
            f"ratio             {activity_rate / raw_rate:.2f} (activities per "
            "second of the simulator's whole write phase / raw rate)"
        )


def raw_baseline(source_path, folder):
    """Return rows/s of a raw sqlite3 executemany of the stored activity rows."""
    source = sqlite3.connect(source_path)
    table = "activities_useractivity"
    schema = [
        sql
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "ORDER BY type DESC",
            [table],
        )
    ]
    cursor = source.execute(f"SELECT * FROM {table} ORDER BY id")
    columns = [item[0] for item in cursor.description]
    rows = cursor.fetchall()
    target = sqlite3.connect(os.path.join(folder, "raw.sqlite3"))
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        # The raw copy has no customer or batch tables to point at.
        target.execute(
            sql.replace("DEFERRABLE INITIALLY DEFERRED", "")
            .replace('REFERENCES "store_customer" ("id")', "")
            .replace('REFERENCES "store_databatch" ("id")', "")
        )
    placeholders = ", ".join("?" * len(columns))
    started = time.perf_counter()
    target.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
    )
    target.commit()
    return len(rows) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
