"""Measure every detector against the simulator's labels on a seeded default shop.

Simulates the default shop (``SimulationConfig`` defaults, fixed seed and end
time) into a throwaway SQLite file, trains every detector on both entity types
with the detector defaults, runs detection, and prints precision, recall, F1,
ROC-AUC and PR-AUC per detector, overall and per anomaly kind, from the metrics
each detection run stores (``anomalies.evaluation``). ``--markdown FILE``
writes the same table as markdown.

Run from the project folder:

    .venv/bin/python bench/quality.py --seed 42 --markdown var/quality.md

``--database configured`` uses DATABASE_URL instead of a throwaway file; the
database must then hold no other simulated shop with the same seed.
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Fixed end of the simulated span, so that a seed always gives the same rows.
SPAN_END = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)
HEADERS = [
    "entity",
    "detector",
    "kind",
    "rows",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
]


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42, help="Simulation seed.")
    parser.add_argument(
        "--database",
        default="sqlite",
        choices=["sqlite", "configured"],
        help="sqlite: a throwaway SQLite file (default); configured: DATABASE_URL.",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="Multiply the default shop's customers, orders and activities.",
    )
    parser.add_argument("--markdown", type=Path, help="Also write the table here.")
    return parser.parse_args()


def setup_django(database, workdir):
    """Point Django at the chosen database and a temporary media folder."""
    sys.path.insert(0, str(ROOT))
    if database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'quality.sqlite3'}"
    os.environ["ANOMALENS_MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def simulate(seed, scale):
    from simulator.config import SimulationConfig
    from simulator.engine import run_simulation

    defaults = SimulationConfig(seed=seed, end=SPAN_END)
    config = SimulationConfig(
        customers=round(defaults.customers * scale),
        orders=round(defaults.orders * scale),
        activities=round(defaults.activities * scale),
        products=defaults.products,
        seed=seed,
        end=SPAN_END,
    )
    return config, run_simulation(config)


def run_all(kind):
    from anomalies import services
    from anomalies.features import ENTITY_TYPES

    runs = services.start_runs(kind, ENTITY_TYPES, background=False)
    failed = [run for run in runs if run.status != "succeeded"]
    if failed:
        raise SystemExit(
            "; ".join(
                f"{run.kind} {run.detector}/{run.entity_type}: {run.error}"
                for run in failed
            )
        )
    return runs


def _cell(value):
    return "-" if value is None else f"{value:.3f}"


def table_rows(detect_runs):
    rows = []
    for run in sorted(detect_runs, key=lambda run: (run.entity_type, run.detector)):
        metrics = run.metrics
        rows.append(
            [
                run.entity_type,
                run.detector,
                "all",
                str(metrics["labelled_rows"]),
                *(_cell(metrics["overall"][name]) for name in HEADERS[4:]),
            ]
        )
        for kind, values in metrics["per_kind"].items():
            rows.append(
                [
                    run.entity_type,
                    run.detector,
                    kind,
                    str(values["count"]),
                    *(_cell(values[name]) for name in HEADERS[4:]),
                ]
            )
    return rows


def markdown(rows):
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plain(rows):
    table = [HEADERS, *rows]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(*table, strict=True)
    ]
    lines = []
    for row in table:
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(str(cell).ljust(width) for cell, width in cells))
    return "\n".join(lines)


def main():
    arguments = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="anomalens-quality-") as folder:
        setup_django(arguments.database, Path(folder))
        started = time.perf_counter()
        config, result = simulate(arguments.seed, arguments.scale)
        simulated = time.perf_counter()
        run_all("train")
        trained = time.perf_counter()
        detect_runs = run_all("detect")
        detected = time.perf_counter()

    rows = table_rows(detect_runs)
    summary = (
        f"Seed {result.seed}; {config.customers} customers, {config.products} "
        f"products, {result.counts['orders']} orders, {result.counts['activities']} "
        f"activities, {result.counts['labels']} labelled rows. Simulate "
        f"{simulated - started:.1f} s, train {trained - simulated:.1f} s, detect "
        f"{detected - trained:.1f} s."
    )
    sys.stdout.write(plain(rows) + "\n" + summary + "\n")
    if arguments.markdown:
        arguments.markdown.parent.mkdir(parents=True, exist_ok=True)
        arguments.markdown.write_text(markdown(rows) + "\n" + summary + "\n")


if __name__ == "__main__":
    main()
