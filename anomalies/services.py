"""Start, execute and supervise training and detection runs.

``start_runs`` validates a request completely before it creates any ``Run``,
then queues one django-q2 task per run or executes the runs inline.
``execute_run`` does the work of one run and always leaves it succeeded or
failed with the reason. ``fail_stale_runs`` marks runs whose worker stopped
sending heartbeats as failed.
"""

import datetime
import json
import logging
import pickle
import tempfile
import threading
import time

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import evaluation, storage
from .detectors import REGISTRY, DetectorError, get_detector_class
from .features import ENTITY_TYPES, FeatureChunks
from .models import DetectorSettings, Finding, Run

logger = logging.getLogger(__name__)

# DetectorSettings fields a request may override.
PARAMETER_FIELDS = [
    "limit",
    "max_train_rows",
    "z_threshold",
    "zscore_robust",
    "iforest_n_estimators",
    "iforest_contamination",
    "dbscan_eps",
    "dbscan_min_samples",
    "dbscan_max_train_rows",
]
# Rows scored per step of a detection run; progress is reported per step.
SCORING_CHUNK_ROWS = 50_000
# Seed of the random sample a model is fitted on, so that training repeats.
TRAIN_SAMPLE_SEED = 20_240_601


def resolve_parameters(parameters=None):
    """Merge request parameters over the DetectorSettings defaults and validate them.

    Raises ``ValidationError`` with one message per invalid field, naming the
    value and the accepted range.
    """
    parameters = dict(parameters or {})
    defaults = DetectorSettings.load()
    errors = {}
    unknown = sorted(set(parameters) - set(PARAMETER_FIELDS))
    for name in unknown:
        errors[name] = [
            f"Unknown parameter {name!r}: use one of {', '.join(PARAMETER_FIELDS)}."
        ]

    resolved = {}
    for name in PARAMETER_FIELDS:
        field = DetectorSettings._meta.get_field(name)
        value = parameters.get(name, getattr(defaults, name))
        if value is None or value == "":
            if field.null:
                resolved[name] = None
                continue
            errors[name] = [f"Missing {name}: {_accepted(field)}"]
            continue
        try:
            if isinstance(value, bool) and not isinstance(field.default, bool):
                raise ValidationError("booleans are not numbers")
            cleaned = field.to_python(value)
            if field.get_internal_type() == "FloatField" and not np.isfinite(cleaned):
                raise ValidationError("not finite")
            for validator in field.validators:
                validator(cleaned)
        except ValidationError:
            errors[name] = [f"Invalid {name} {value!r}: {_accepted(field)}"]
            continue
        resolved[name] = cleaned
    if errors:
        raise ValidationError(errors)
    return resolved


def _accepted(field):
    """Describe the values a DetectorSettings field accepts."""
    if field.get_internal_type() == "BooleanField":
        return "use true or false."
    bounds = {type(v).__name__: v.limit_value for v in field.validators}
    low = bounds.get("MinValueValidator")
    high = bounds.get("MaxValueValidator")
    kind = "a whole number" if "Integer" in field.get_internal_type() else "a number"
    suffix = " (or null to pick it automatically)" if field.null else ""
    return f"use {kind} from {low} to {high}{suffix}."


def validate_request(kind, entity_types, detectors=None, parameters=None):
    """Check a run request and return ``(entity_types, detectors, parameters)``.

    Raises ``ValidationError`` naming each invalid field, before anything is
    stored. Detection also requires a usable trained model for every pair.
    """
    errors = {}
    if kind not in Run.Kind.values:
        errors["kind"] = [f"Invalid kind {kind!r}: use train or detect."]
    if isinstance(entity_types, str):
        entity_types = [entity_types]
    entity_types = list(entity_types or [])
    bad_entities = [e for e in entity_types if e not in ENTITY_TYPES]
    if not entity_types or bad_entities:
        errors["entity_type"] = [
            f"Invalid entity type {bad_entities[0] if bad_entities else entity_types!r}"
            f": use one of {', '.join(ENTITY_TYPES)} (or all)."
        ]
    if detectors is None:
        detectors = list(REGISTRY)
    elif isinstance(detectors, str):
        detectors = [detectors]
    detectors = list(dict.fromkeys(detectors))
    bad_detectors = [d for d in detectors if d not in REGISTRY]
    if not detectors or bad_detectors:
        errors["algorithms"] = [
            f"Unknown detector {bad_detectors[0] if bad_detectors else detectors!r}: "
            f"use one or more of {', '.join(REGISTRY)}."
        ]
    try:
        resolved = resolve_parameters(parameters)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        resolved = None
    if errors:
        raise ValidationError(errors)

    if kind == Run.Kind.DETECT:
        problems = []
        for detector in detectors:
            for entity_type in entity_types:
                try:
                    storage.check_model(storage.active_model(detector, entity_type))
                except storage.ModelLoadError as exc:
                    problems.append(str(exc))
        if problems:
            raise ValidationError({"algorithms": problems})
    return entity_types, detectors, resolved


def start_runs(
    kind, entity_types, detectors=None, parameters=None, user=None, background=True
):
    """Validate a request, create one queued Run per detector and entity, and start them.

    ``kind`` is "train" or "detect"; ``entity_types`` a list of "activity" and
    "order"; ``detectors`` None means every registered detector;
    ``parameters`` overrides DetectorSettings defaults. With ``background``
    each run is queued as a django-q2 task, otherwise the runs execute inline
    before this returns. Raises ``ValidationError`` before creating any run.
    Returns the runs, refreshed from the database.
    """
    entity_types, detectors, resolved = validate_request(
        kind, entity_types, detectors, parameters
    )
    fail_stale_runs()
    requested_by = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        runs = [
            Run.objects.create(
                kind=kind,
                detector=detector,
                entity_type=entity_type,
                parameters=resolved,
                requested_by=requested_by,
            )
            for entity_type in entity_types
            for detector in detectors
        ]
    logger.info(
        "Created %s runs %s (background=%s)",
        kind,
        [run.pk for run in runs],
        background,
    )
    for run in runs:
        if background:
            _enqueue(run)
        else:
            execute_run(run.pk)
        run.refresh_from_db()
    return runs


def start_training_then_detection(
    entity_types, detectors=None, parameters=None, user=None, background=True
):
    """Create training runs and detection runs that start once training has ended.

    Takes the arguments of ``start_runs`` except ``kind``. Each detection run
    waits for the training run of its detector and entity, and fails with that
    run's error instead of starting when the training failed. With
    ``background`` the runs are queued as one django-q2 chain, so a worker
    carries them out one after another, training first. Raises
    ``ValidationError`` before creating any run. Returns the training runs
    followed by the detection runs, refreshed from the database.
    """
    entity_types, detectors, resolved = validate_request(
        Run.Kind.TRAIN, entity_types, detectors, parameters
    )
    fail_stale_runs()
    requested_by = user if getattr(user, "is_authenticated", False) else None
    pairs = [(entity, detector) for entity in entity_types for detector in detectors]
    with transaction.atomic():
        training = [
            Run.objects.create(
                kind=Run.Kind.TRAIN,
                detector=detector,
                entity_type=entity_type,
                parameters=resolved,
                requested_by=requested_by,
            )
            for entity_type, detector in pairs
        ]
        detection = [
            Run.objects.create(
                kind=Run.Kind.DETECT,
                detector=detector,
                entity_type=entity_type,
                parameters=resolved,
                requested_by=requested_by,
            )
            for entity_type, detector in pairs
        ]
    logger.info(
        "Created training runs %s followed by detection runs %s (background=%s)",
        [run.pk for run in training],
        [run.pk for run in detection],
        background,
    )
    steps = [("anomalies.tasks.execute_run_task", (run.pk,)) for run in training]
    steps += [
        ("anomalies.tasks.detect_after_training_task", (run.pk, trained.pk))
        for run, trained in zip(detection, training, strict=True)
    ]
    if background:
        _enqueue_chain([*training, *detection], steps)
    else:
        for run in training:
            execute_run(run.pk)
        for run, trained in zip(detection, training, strict=True):
            detect_after_training(run.pk, trained.pk)
    runs = [*training, *detection]
    for run in runs:
        run.refresh_from_db()
    return runs


def detect_after_training(run_id, training_run_id):
    """Execute detection run ``run_id`` if training run ``training_run_id`` succeeded.

    Otherwise mark the detection run failed with the training run's outcome.
    """
    training = Run.objects.filter(pk=training_run_id).first()
    if training is None or training.status != Run.Status.SUCCEEDED:
        outcome = "was deleted" if training is None else f"is {training.status}"
        detail = ""
        if training is not None and training.error:
            detail = f": {training.error.rstrip('.')}"
        reason = (
            f"Detection did not start because training run #{training_run_id} "
            f"{outcome}{detail}. Fix the cause and queue the runs again."
        )
        if mark_failed(run_id, reason):
            logger.warning("Run %s not started: %s", run_id, reason)
        return Run.objects.filter(pk=run_id).first()
    return execute_run(run_id)


def _enqueue_chain(runs, steps):
    # Imported here so that importing services never needs a configured cluster.
    from django_q.conf import Conf
    from django_q.tasks import Chain

    try:
        # Chain's own default for sync is read once at import; pass the current one.
        chain = Chain(sync=Conf.SYNC)
        for run, (function, args) in zip(runs, steps, strict=True):
            chain.append(
                function,
                *args,
                hook="anomalies.tasks.record_task_result",
                task_name=f"{run.kind}-{run.detector}-{run.entity_type}-{run.pk}",
            )
        group = chain.run()
    except Exception as exc:  # broker down or misconfigured
        logger.exception("Queueing runs %s failed", [run.pk for run in runs])
        for run in runs:
            mark_failed(run.pk, f"Could not queue the background task: {exc}")
        return
    # NOTE: a chained task gets its id only when the task before it ends, so
    # these runs keep an empty task_id. Each task's name ends with its run id.
    logger.info("Queued runs %s as chain %s", [run.pk for run in runs], group)


def _enqueue(run):
    # Imported here so that importing services never needs a configured cluster.
    from django_q.tasks import async_task

    try:
        task_id = async_task(
            "anomalies.tasks.execute_run_task",
            run.pk,
            hook="anomalies.tasks.record_task_result",
            task_name=f"{run.kind}-{run.detector}-{run.entity_type}-{run.pk}",
        )
    except Exception as exc:  # broker down or misconfigured
        logger.exception("Queueing run %s failed", run.pk)
        mark_failed(run.pk, f"Could not queue the background task: {exc}")
        return
    Run.objects.filter(pk=run.pk, task_id="").update(task_id=str(task_id))


def mark_failed(run_id, reason):
    """Mark a queued or running run failed with ``reason``; return 1 if it changed."""
    now = timezone.now()
    return Run.objects.filter(
        pk=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.FAILED, error=reason, finished_at=now, heartbeat_at=now)


def fail_stale_runs(max_age=None):
    """Mark running runs without a heartbeat for ``max_age`` seconds as failed.

    A run stays "running" when its worker was killed; this is how it ends.
    ``max_age`` may be a number of seconds or a timedelta; None means the
    STALE_RUN_SECONDS setting. Returns the count.
    """
    if max_age is None:
        max_age = settings.STALE_RUN_SECONDS
    if not isinstance(max_age, datetime.timedelta):
        max_age = datetime.timedelta(seconds=max_age)
    now = timezone.now()
    cutoff = now - max_age
    last_seen_before = Q(heartbeat_at__lt=cutoff) | Q(
        heartbeat_at__isnull=True, started_at__lt=cutoff
    )
    stale = Run.objects.filter(last_seen_before, status=Run.Status.RUNNING)
    count = stale.update(
        status=Run.Status.FAILED,
        error=(
            f"The worker stopped sending heartbeats for more than "
            f"{max_age.total_seconds():g} s (killed or timed out); start the run "
            "again."
        ),
        # The run ended at its last sign of life, not when this noticed it.
        finished_at=Coalesce("heartbeat_at", "started_at", Value(now)),
    )
    if count:
        logger.warning("Marked %d stale runs as failed", count)
    return count


class _Heartbeat(threading.Thread):
    """Refresh a run's heartbeat while a long step (such as a fit) runs."""

    def __init__(self, run_id, interval=None):
        super().__init__(daemon=True, name=f"heartbeat-run-{run_id}")
        self.run_id = run_id
        self.interval = settings.HEARTBEAT_SECONDS if interval is None else interval
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(self.interval):
                Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:
            logger.exception("Heartbeat of run %s failed", self.run_id)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()


def _report(run, progress, rows=None):
    fields = {"progress": round(progress, 4), "heartbeat_at": timezone.now()}
    if rows is not None:
        fields["rows_processed"] = rows
    Run.objects.filter(pk=run.pk).update(**fields)


def execute_run(run_id):
    """Execute one queued run to the end; any error leaves it failed with the reason."""
    fail_stale_runs()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            logger.error("Run %s does not exist; nothing to execute", run_id)
            return None
        if run.status != Run.Status.QUEUED:
            logger.warning("Run %s is %s, not queued; skipped", run_id, run.status)
            return run
        now = timezone.now()
        run.status = Run.Status.RUNNING
        run.started_at = now
        run.heartbeat_at = now
        run.save(update_fields=["status", "started_at", "heartbeat_at"])

    logger.info("Run %s started: %s", run.pk, run)
    started = time.monotonic()
    heartbeat = _Heartbeat(run.pk)
    heartbeat.start()
    try:
        if run.kind == Run.Kind.TRAIN:
            _train(run)
        else:
            _detect(run)
    except Exception as exc:
        logger.exception("Run %s failed", run.pk)
        mark_failed(run.pk, _reason(exc))
    else:
        logger.info("Run %s succeeded in %.1f s", run.pk, time.monotonic() - started)
    finally:
        heartbeat.stop()
    run.refresh_from_db()
    return run


def _reason(exc):
    if isinstance(exc, (DetectorError, storage.ModelLoadError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _train(run):
    """Fit the run's detector on a uniform random sample of the rows read.

    Features are computed on whole slices with their history, so sampling
    changes no feature value. Only the sampled rows of each slice are kept,
    so memory follows ``max_train_rows`` rather than the number of rows read.
    """
    parameters = run.parameters
    chunks = FeatureChunks(run.entity_type, limit=parameters["limit"])
    total = len(chunks)
    if not total:
        raise DetectorError(
            f"No {run.entity_type} rows to train on: load or simulate data first."
        )

    sampler = TrainingSample(total, parameters["max_train_rows"])
    parts, done, first, last = [], 0, None, None
    for features, times in chunks:
        if len(times):
            first = times.min() if first is None else min(first, times.min())
            last = times.max() if last is None else max(last, times.max())
        parts.append(features.iloc[sampler.positions(len(features))])
        done += len(features)
        del features, times
        _report(run, 0.3 * done / total, rows=done)
    features = pd.concat(parts)
    del parts
    if features.empty:
        raise DetectorError(
            f"No {run.entity_type} rows to train on: load or simulate data first."
        )
    logger.info(
        "Run %s fits %s on %d of %d %s rows",
        run.pk,
        run.detector,
        len(features),
        done,
        run.entity_type,
    )

    detector = get_detector_class(run.detector).from_settings(parameters)
    detector.fit(features)
    _report(run, 0.8)
    window = (first.to_pydatetime(), last.to_pydatetime())
    record = storage.save_model(
        detector, run.entity_type, training_rows=len(features), window=window, run=run
    )
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        rows_processed=len(features),
        trained_model=record,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


class TrainingSample:
    """Draw a uniform random sample of at most ``size`` rows, one slice at a time.

    Each slice gets a hypergeometric share of the rows still to draw, which
    makes the sample uniform over all ``total`` rows, and exactly
    ``min(size, total)`` rows long when the slices add up to ``total``.
    """

    def __init__(self, total, size, seed=TRAIN_SAMPLE_SEED):
        self.remaining_rows = int(total)
        self.remaining_draws = min(int(size), int(total))
        self.rng = np.random.default_rng(seed)

    def positions(self, rows):
        """Return the sorted positions to keep from the next slice of ``rows`` rows."""
        if rows <= 0 or self.remaining_draws <= 0:
            self.remaining_rows -= max(rows, 0)
            return np.empty(0, dtype=np.int64)
        # Rows added since the count was taken can make a slice exceed the rest.
        pool = max(self.remaining_rows, rows)
        if self.remaining_draws >= pool:
            draws = rows
        else:
            draws = int(
                self.rng.hypergeometric(rows, pool - rows, self.remaining_draws)
            )
        self.remaining_rows = pool - rows
        self.remaining_draws -= draws
        if draws == rows:
            return np.arange(rows, dtype=np.int64)
        return np.sort(self.rng.choice(rows, size=draws, replace=False))


def score_features(detector, features, on_progress=None):
    """Score a feature frame in chunks; return the score frame (see ``Detector.score``)."""
    parts = []
    for begin in range(0, len(features), SCORING_CHUNK_ROWS):
        parts.append(detector.score(features.iloc[begin : begin + SCORING_CHUNK_ROWS]))
        if on_progress:
            on_progress(min(begin + SCORING_CHUNK_ROWS, len(features)))
    if not parts:
        return pd.DataFrame(columns=["raw_score", "score", "is_anomaly", "severity"])
    return pd.concat(parts)


def _detect(run):
    """Score the rows slice by slice; store the findings and the metrics at the end.

    Memory depends on the slice size, because each slice's features are
    dropped once scored. The scores for the metrics stay in memory as 17 bytes
    a row. The flagged rows' findings wait in a temporary file until the
    single transaction that stores them with the final status.
    """
    parameters = run.parameters
    record = storage.active_model(run.detector, run.entity_type)
    detector = storage.load_model(record)
    detector.apply_detection_parameters(parameters)
    Run.objects.filter(pk=run.pk).update(trained_model=record)

    chunks = FeatureChunks(run.entity_type, limit=parameters["limit"])
    total = len(chunks)
    if not total:
        raise DetectorError(
            f"No {run.entity_type} rows to score: load or simulate data first."
        )
    now = timezone.now()
    scored = {"id": [], "raw_score": [], "score": [], "is_anomaly": []}
    found, done = 0, 0
    # Flagged rows wait in a temporary file, so memory holds one slice of them.
    with tempfile.TemporaryFile(prefix="anomalens-findings-") as spill:
        for features, times in chunks:
            scores = score_features(detector, features)
            flagged = scores["is_anomaly"].to_numpy(dtype=bool)
            if flagged.any():
                rows = _finding_rows(
                    run,
                    detector,
                    features[flagged],
                    times[flagged],
                    scores[flagged],
                    now,
                )
                pickle.dump(rows, spill, protocol=pickle.HIGHEST_PROTOCOL)
                found += len(rows)
                del rows
            # Scores for the metrics: 17 bytes a row.
            scored["id"].append(scores.index.to_numpy(dtype=np.int64))
            scored["raw_score"].append(scores["raw_score"].to_numpy(dtype=np.float32))
            scored["score"].append(scores["score"].to_numpy(dtype=np.float32))
            scored["is_anomaly"].append(flagged)
            done += len(features)
            del features, times, scores
            _report(run, 0.1 + 0.8 * done / total, done)
        metrics = _metrics(run.entity_type, scored) if done else {}
        del scored
        _report(run, 0.9)

        # Findings and the final status land together, or not at all.
        spill.seek(0)
        with transaction.atomic():
            for rows in _spilled(spill):
                storage.insert_findings(rows)
            Run.objects.filter(pk=run.pk).update(
                status=Run.Status.SUCCEEDED,
                progress=1.0,
                rows_processed=done,
                anomalies_found=found,
                metrics=metrics,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
    logger.info(
        "Run %s scored %d %s rows with %s and stored %d findings",
        run.pk,
        done,
        run.entity_type,
        run.detector,
        found,
    )


def _metrics(entity_type, scored):
    """Return the run metrics of the scores collected slice by slice."""
    columns = {name: np.concatenate(scored.pop(name)) for name in list(scored)}
    return evaluation.metrics_for_run(
        entity_type,
        columns["id"],
        columns["raw_score"],
        columns["score"],
        columns["is_anomaly"],
    )


def _spilled(spill):
    """Yield the lists of finding rows pickled one after another into ``spill``."""
    while True:
        try:
            yield pickle.load(spill)
        except EOFError:
            return


def _finding_rows(run, detector, features, times, scores, now):
    """Return the flagged rows of one slice as ``storage.FINDING_COLUMNS`` tuples."""
    explanations = []
    for begin in range(0, len(features), SCORING_CHUNK_ROWS):
        explanations.extend(
            detector.explain(features.iloc[begin : begin + SCORING_CHUNK_ROWS])
        )
    count = len(features)
    return list(
        zip(
            [run.pk] * count,
            [run.detector] * count,
            [run.entity_type] * count,
            features.index.to_numpy(dtype=np.int64).tolist(),
            storage.adapt_times(times),
            scores["raw_score"].to_numpy(dtype=float).tolist(),
            scores["score"].to_numpy(dtype=float).tolist(),
            scores["severity"].tolist(),
            [json.dumps(explanation) for explanation in explanations],
            [Finding.ReviewStatus.NEW.value] * count,
            storage.adapt_times([now] * count),
            strict=True,
        )
    )
