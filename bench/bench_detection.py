"""Benchmark activity training and detection end to end against a raw baseline.

Run from the project folder:

    python bench/bench_detection.py                      # new SQLite file, 1M events
    python bench/bench_detection.py --database var/bench-detection.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
        python bench/bench_detection.py --postgres

The script fills a throwaway database with the simulator (1,000,000 activities,
50,000 orders, seed 2024) unless ``--database`` names an SQLite file that already
contains them. Then every measured step runs in a child process of its own, so that
its peak memory (the child's maximum resident set size) belongs to that step alone:

* ``baseline train/detect``: the same work written plainly in one script: one
  raw ``sqlite3`` query (details extracted with ``json_extract``) into a DataFrame,
  the project's pure feature function ``build_activity_features`` on it (the
  same computation, so the comparison measures everything around it), numpy or
  scikit-learn fit and score, ``joblib`` save and load, explanations of the flagged
  rows and one ``executemany`` of the findings into ``anomalies_finding``;
* ``anomalens train/detect``: ``anomalies.services.start_runs`` with
  ``background=False``, which creates and executes a run exactly as the
  ``train`` and ``detect`` commands do.

Each step's time excludes the child's start-up (imports, ``django.setup``) and
covers everything after it; ``rows/s`` is the rows read and scored per second.
With ``--postgres`` the baseline (which is SQLite-specific) is left out.
"""

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DETECTORS = ["statistical_zscore", "isolation_forest", "dbscan"]
SEED = 2024


def setup_django(database_url, media_root):
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["ANOMALENS_MEDIA_ROOT"] = str(media_root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    os.environ.setdefault("ANOMALENS_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------
# Parent: fill the database, run the steps, print the table.


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument(
        "--database",
        help="SQLite file to use; filled with the simulator when it has no events",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use DATABASE_URL as it is (simulated rows are replaced); no baseline",
    )
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--media", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return child(args)

    folder = Path(tempfile.mkdtemp(prefix="anomalens-bench-detection-"))
    if args.postgres:
        database_url = os.environ["DATABASE_URL"]
        sqlite_path = None
    else:
        sqlite_path = Path(args.database or folder / "bench.sqlite3").resolve()
        database_url = f"sqlite:///{sqlite_path}"
    media = folder / "media"
    setup_django(database_url, media)
    fill(args, sqlite_path)

    from django.db import connection

    sys.stdout.reconfigure(line_buffering=True)
    print(f"database   {connection.vendor}, rows: {args.activities:,} activities")
    print(f"cpus       {os.cpu_count()}, load before: {load()}")
    print()
    detectors = [name for name in args.detectors.split(",") if name]
    results = []
    for detector in detectors:
        sides = ["anomalens"]
        if sqlite_path and not args.skip_baseline:
            sides.insert(0, "baseline")
        for side in sides:
            for kind in ("train", "detect"):
                step = f"{side}:{kind}:{detector}"
                run_id = baseline_run(detector) if step.startswith("baseline:d") else 0
                result = spawn(step, database_url, media, args.activities, run_id)
                results.append(result)
                print_row(result)
    print()
    print_ratios(results)


def load():
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def fill(args, sqlite_path):
    """Simulate the shop into the database unless it already contains the events."""
    from django.core.management import call_command

    from activities.models import UserActivity
    from simulator.config import SimulationConfig
    from simulator.engine import reset_simulated_data, run_simulation

    call_command("migrate", verbosity=0)
    if UserActivity.objects.count() == args.activities and sqlite_path:
        print(f"reusing    {sqlite_path}")
        return
    if args.postgres:
        reset_simulated_data()
    config = SimulationConfig(
        customers=20_000,
        products=2_000,
        orders=args.orders,
        activities=args.activities,
        order_anomaly_rate=0.05,
        activity_anomaly_rate=0.05,
        seed=SEED,
        end=datetime(2025, 6, 1, tzinfo=UTC),
    )
    started = time.perf_counter()
    run_simulation(config)
    print(f"simulated  in {time.perf_counter() - started:.1f} s")


def baseline_run(detector):
    """Create the Run row the baseline's findings point at."""
    from anomalies.models import Run

    return Run.objects.create(
        kind=Run.Kind.DETECT,
        detector=f"baseline-{detector}",
        entity_type="activity",
        status=Run.Status.SUCCEEDED,
    ).pk


def spawn(step, database_url, media, rows, run_id):
    command = [
        sys.executable,
        __file__,
        "--step",
        step,
        "--media",
        str(media),
        "--activities",
        str(rows),
        "--run-id",
        str(run_id),
    ]
    env = dict(os.environ, DATABASE_URL=database_url)
    output = subprocess.run(
        command, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def print_row(result):
    print(
        f"{result['step']:<38} {result['seconds']:7.2f} s "
        f"{result['rows'] / result['seconds']:>10,.0f} rows/s "
        f"peak {result['peak_mib']:6,.0f} MiB (start {result['start_mib']:4,.0f}) "
        f"findings {result['findings']:>7,} load {result['load']}"
    )


def print_ratios(results):
    by_step = {result["step"]: result for result in results}
    for step, result in by_step.items():
        side, kind, detector = step.split(":")
        if side != "anomalens":
            continue
        baseline = by_step.get(f"baseline:{kind}:{detector}")
        if baseline:
            print(
                f"{kind:<6} {detector:<20} anomalens / baseline time: "
                f"{result['seconds'] / baseline['seconds']:.2f}"
            )


# --------------------------------------------------------------------------
# Child: one measured step.


def child(args):
    media = Path(args.media)
    setup_django(None, media)
    side, kind, detector = args.step.split(":")
    start_mib = rss_mib()
    started = time.perf_counter()
    if side == "anomalens":
        rows, findings = anomalens_step(kind, detector, args.activities)
    else:
        rows, findings = baseline_step(kind, detector, args.activities, media, args)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "step": args.step,
                "seconds": seconds,
                "rows": rows,
                "findings": findings,
                "start_mib": start_mib,
                "peak_mib": peak_mib,
                "load": load(),
            }
        )
    )


def anomalens_step(kind, detector, limit):
    from activities.models import UserActivity
    from anomalies import services

    parameters = {"limit": limit}
    (run,) = services.start_runs(
        kind, ["activity"], [detector], parameters, background=False
    )
    if run.status != "succeeded":
        raise SystemExit(f"{kind} {detector} failed: {run.error}")
    # A training run counts the rows it fitted on; the table gives rows read.
    rows = min(limit, UserActivity.objects.count()) if kind == "train" else None
    return rows or run.rows_processed, run.anomalies_found


# The baseline, written plainly. Its feature computation is the project's pure
# function; reading, fitting, scoring, explaining and writing are its own.

EXPLANATION_SIZE = 5
# The default max_train_rows of DetectorSettings.
TRAIN_SAMPLE_ROWS = 500_000
INSERT_FINDING = (
    "INSERT INTO anomalies_finding (run_id, detector, entity_type, entity_id, "
    "entity_time, raw_score, score, severity, explanation, review_status, "
    "created_at) VALUES (?, ?, 'activity', ?, ?, ?, ?, ?, ?, 'new', ?)"
)
SELECT_ACTIVITY = (
    "SELECT id, timestamp, action_type, customer_id, session_id, ip_address, "
    "user_agent, json_extract(details, '$.order_total'), "
    "json_extract(details, '$.quantity'), json_extract(details, '$.attempted_email') "
    "FROM activities_useractivity ORDER BY timestamp DESC, id DESC LIMIT ?"
)


def baseline_step(kind, detector, limit, media, args):
    import joblib
    import numpy as np
    import pandas as pd
    from django.conf import settings
    from django.db import connection

    from anomalies.features import activity

    path = connection.settings_dict["NAME"]
    db = sqlite3.connect(path)
    raw = pd.DataFrame.from_records(
        db.execute(SELECT_ACTIVITY, [limit]).fetchall(), columns=activity.RAW_COLUMNS
    )
    # Every row is a target, so there is no earlier history or known customer IP.
    features = activity.build_activity_features(raw, tz=settings.TIME_ZONE)
    features = features.loc[raw["id"].to_numpy()]
    X = features.to_numpy(dtype=float)
    model_path = media / f"baseline-{detector}.joblib"

    if kind == "train":
        # Fit on a uniform sample as large as the one AnomaLens fits on.
        rows_read = len(X)
        size = min(len(X), TRAIN_SAMPLE_ROWS)
        X = X[np.sort(np.random.default_rng(0).choice(len(X), size, replace=False))]
        model = {"names": list(features.columns)}
        model["centre"] = np.median(X, axis=0)
        q25, q75 = np.percentile(X, [25, 75], axis=0)
        spread = (q75 - q25) / 1.349
        model["spread"] = np.where(spread > 0, spread, 1e-6)
        model["low"], model["high"] = np.percentile(X, [5, 95], axis=0)
        model.update(baseline_fit(detector, X, model["names"]))
        model["training"] = np.sort(baseline_scores(model, X))
        if detector == "isolation_forest":
            model["threshold"] = float(np.quantile(model["training"], 0.95))
        media.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, model_path, compress=3)
        return rows_read, 0

    model = joblib.load(model_path)
    raw_scores = baseline_scores(model, X)
    ranks = np.searchsorted(model["training"], raw_scores, side="right")
    normalised = 100.0 * ranks / len(model["training"])
    severity = np.select(
        [normalised >= 99.0, normalised >= 97.0], ["high", "medium"], "low"
    )
    flagged = np.flatnonzero(raw_scores > model["threshold"])
    Xf = X[flagged]
    influence = np.minimum(np.abs(Xf - model["centre"]) / model["spread"], 1e6)
    top = np.argsort(-influence, axis=1, kind="stable")[:, :EXPLANATION_SIZE]
    names = model["names"]
    explanations = [
        json.dumps(
            [
                {
                    "feature": names[c],
                    "value": float(Xf[r, c]),
                    "typical_low": float(model["low"][c]),
                    "typical_high": float(model["high"][c]),
                    "contribution": round(float(influence[r, c]), 4),
                }
                for c in columns
            ]
        )
        for r, columns in enumerate(top)
    ]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    ids = raw["id"].to_numpy()[flagged]
    times = raw["timestamp"].to_numpy()[flagged]
    db.executemany(
        INSERT_FINDING,
        zip(
            [args.run_id] * len(flagged),
            [detector] * len(flagged),
            ids.tolist(),
            times.tolist(),
            raw_scores[flagged].tolist(),
            normalised[flagged].tolist(),
            severity[flagged].tolist(),
            explanations,
            [now] * len(flagged),
            strict=True,
        ),
    )
    db.commit()
    return len(X), len(flagged)


def baseline_fit(detector, X, names):
    import numpy as np

    if detector == "statistical_zscore":
        # The detector's defaults: median and MAD (the mean absolute deviation
        # where MAD is 0), each feature's spread floor, and only the side of a
        # feature that its spec calls suspicious.
        from anomalies.features import feature_specs

        specs = feature_specs(names)
        centre = np.median(X, axis=0)
        mad = 1.4826 * np.median(np.abs(X - centre), axis=0)
        mean_ad = 1.2533 * np.mean(np.abs(X - X.mean(axis=0)), axis=0)
        spread = np.where(mad > 0, mad, mean_ad)
        floors = np.maximum(
            [spec.min_spread for spec in specs], 1e-6 * np.maximum(1.0, np.abs(centre))
        )
        return {
            "mean": centre,
            "std": np.maximum(spread, floors),
            "sign": np.array(
                [
                    {"high": 1.0, "low": -1.0, "both": 0.0}.get(spec.direction, np.nan)
                    for spec in specs
                ]
            ),
            "threshold": 3.0,
        }
    if detector == "isolation_forest":
        from sklearn.ensemble import IsolationForest
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import RobustScaler

        pipeline = Pipeline(
            [
                ("scale", RobustScaler()),
                ("forest", IsolationForest(n_estimators=200, random_state=0)),
            ]
        )
        return {"pipeline": pipeline.fit(X)}
    from sklearn.cluster import DBSCAN
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    from anomalies.detectors.dbscan import knee_of_k_distances

    sample = X[np.random.default_rng(0).choice(len(X), min(len(X), 20_000), False)]
    scaler = StandardScaler().fit(sample)
    scaled = scaler.transform(sample)
    eps = knee_of_k_distances(scaled, 5)
    core = DBSCAN(eps=eps, min_samples=5).fit(scaled).components_
    return {
        "scaler": scaler,
        "eps": eps,
        "neighbours": NearestNeighbors(n_neighbors=1).fit(core),
        "threshold": 1.0,
    }


def baseline_scores(model, X):
    import numpy as np

    if "mean" in model:
        z = np.clip((X - model["mean"]) / model["std"], -1e6, 1e6)
        sign = model["sign"]
        directed = np.where(sign == 0, np.abs(z), np.maximum(z * sign, 0.0))
        return np.where(np.isnan(sign), 0.0, directed).max(axis=1)
    if "pipeline" in model:
        return -model["pipeline"].score_samples(X)
    scores = np.empty(len(X))
    for begin in range(0, len(X), 20_000):
        chunk = model["scaler"].transform(X[begin : begin + 20_000])
        scores[begin : begin + len(chunk)] = model["neighbours"].kneighbors(chunk)[0][
            :, 0
        ]
    return scores / model["eps"]


if __name__ == "__main__":
    main()
