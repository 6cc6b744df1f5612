import datetime

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.db.models import Max, Min
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Task

from activities.models import UserActivity
from anomalies import features as feature_module
from anomalies import services
from anomalies.models import Finding, Run, TrainedModel

ALL = ["activity", "order"]


@pytest.fixture
def trained(shop):
    return services.start_runs(
        "train", ALL, parameters={"iforest_n_estimators": 50}, background=False
    )


def test_training_runs_succeed_for_every_pair(trained):
    assert {run.status for run in trained} == {"succeeded"}
    assert len(trained) == 6


def test_training_saves_one_active_model_per_pair(trained):
    assert TrainedModel.objects.filter(is_active=True).count() == 6


def test_training_run_records_rows_and_model(trained):
    run = trained[0]
    assert run.rows_processed == 308
    assert run.trained_model_id is not None
    assert run.duration_seconds >= 0


def test_detection_stores_findings_with_explanations(trained, shop):
    runs = services.start_runs(
        "detect", ["activity"], ["statistical_zscore"], background=False
    )
    run = runs[0]
    findings = Finding.objects.filter(run=run)
    assert run.status == "succeeded"
    assert run.anomalies_found == findings.count()
    assert set(shop["burst"]) <= set(findings.values_list("entity_id", flat=True))
    finding = findings.get(entity_id=shop["burst"][-1])
    assert finding.entity_time is not None
    assert set(finding.explanation[0]) == {
        "feature",
        "value",
        "typical_low",
        "typical_high",
        "contribution",
    }


def test_detection_metrics_from_labels(trained, shop):
    run = services.start_runs(
        "detect", ["order"], ["statistical_zscore"], background=False
    )[0]
    metrics = run.metrics
    assert metrics["labelled_rows"] == 41
    assert metrics["positives"] == 1
    assert metrics["overall"]["recall"] == 1.0
    assert metrics["per_kind"]["total_mismatch"]["count"] == 1
    assert len(metrics["score_histogram"]["edges"]) == 21
    assert sum(metrics["score_histogram"]["anomalous"]) == 1
    assert len(metrics["pr_curve"]["precision"]) <= 200


def test_new_detection_keeps_other_runs_findings(trained):
    first = services.start_runs("detect", ["order"], ["dbscan"], background=False)[0]
    kept = Finding.objects.filter(run=first).count()
    services.start_runs("detect", ["order"], ["dbscan"], background=False)
    assert Finding.objects.filter(run=first).count() == kept


def test_detection_before_training_rejected_without_run(shop):
    with pytest.raises(ValidationError, match="train it first"):
        services.start_runs("detect", ["order"], ["dbscan"], background=False)
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"entity_types": ["user"]}, "entity_type"),
        ({"detectors": ["kmeans"]}, "algorithms"),
        ({"parameters": {"z_threshold": 0}}, "z_threshold"),
        ({"parameters": {"limit": "many"}}, "limit"),
        ({"parameters": {"iforest_contamination": 0.9}}, "iforest_contamination"),
        ({"parameters": {"dbscan_eps": -1}}, "dbscan_eps"),
        ({"parameters": {"max_train_rows": 99}}, "max_train_rows"),
        ({"parameters": {"max_train_rows": 5_000_001}}, "max_train_rows"),
        ({"parameters": {"speed": 3}}, "speed"),
    ],
)
def test_bad_request_names_field(db, arguments, field):
    arguments = {"entity_types": ["order"], **arguments}
    with pytest.raises(ValidationError) as error:
        services.start_runs("train", background=False, **arguments)
    assert field in error.value.message_dict
    assert Run.objects.count() == 0


def test_training_without_data_fails_run(db):
    run = services.start_runs("train", ["order"], ["dbscan"], background=False)[0]
    assert run.status == "failed"
    assert "No order rows" in run.error


def test_training_too_few_rows_keeps_previous_model(trained, shop):
    before = set(
        TrainedModel.objects.filter(is_active=True).values_list("pk", flat=True)
    )
    run = services.start_runs(
        "train", ["order"], ["dbscan"], parameters={"limit": 10}, background=False
    )[0]
    assert run.status == "failed"
    assert "Too few rows" in run.error
    assert (
        set(TrainedModel.objects.filter(is_active=True).values_list("pk", flat=True))
        == before
    )


def test_crash_while_saving_leaves_failed_run(shop, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(services.storage, "save_model", crash)
    run = services.start_runs("train", ["order"], ["dbscan"], background=False)[0]
    assert run.status == "failed"
    assert "disk full" in run.error
    assert TrainedModel.objects.count() == 0


def running_run(last_seen, started=None):
    """Create a running DBSCAN training run whose last heartbeat was at ``last_seen``."""
    return Run.objects.create(
        kind="train",
        detector="dbscan",
        entity_type="order",
        status="running",
        started_at=started or last_seen,
        heartbeat_at=last_seen,
    )


def test_stale_running_run_marked_failed(db):
    old = timezone.now() - datetime.timedelta(minutes=30)
    run = running_run(old, started=old - datetime.timedelta(minutes=5))
    assert services.fail_stale_runs(max_age=600) == 1
    run.refresh_from_db()
    assert run.status == "failed"
    assert "heartbeats" in run.error
    # Its duration ends at the last heartbeat, not when the failure was noticed.
    assert run.finished_at == old


def test_polling_one_run_ends_stale_run(staff_client):
    run = running_run(timezone.now() - datetime.timedelta(hours=1))

    response = staff_client.get(f"/api/runs/{run.pk}/")

    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert "heartbeats" in response.json()["error"]


def test_recent_heartbeat_keeps_run_running(db):
    run = running_run(timezone.now())
    assert services.fail_stale_runs(max_age=600) == 0
    run.refresh_from_db()
    assert run.status == "running"


def test_killed_worker_run_fails_at_next_task_start(shop):
    killed = running_run(timezone.now() - datetime.timedelta(hours=2))
    services.start_runs("train", ["order"], ["dbscan"], background=False)
    killed.refresh_from_db()
    assert killed.status == "failed"


def test_execute_skips_run_not_queued(db):
    run = Run.objects.create(
        kind="train", detector="dbscan", entity_type="order", status="succeeded"
    )
    assert services.execute_run(run.pk).status == "succeeded"


@pytest.fixture
def sync_queue(transactional_db, monkeypatch):
    """Run django-q2 tasks in-process through async_task, the worker and the hook.

    The worker closes connections that are inside a transaction, so these
    tests commit for real instead of running in a rolled-back transaction.
    """
    monkeypatch.setattr(Conf, "SYNC", True)


def test_background_run_goes_through_django_q(shop, sync_queue):
    run = services.start_runs("train", ["order"], ["statistical_zscore"])[0]
    task = Task.objects.get(id=run.task_id)
    assert task.success
    assert run.status == "succeeded"


def test_background_failure_recorded_on_run(sync_queue):
    run = services.start_runs("train", ["order"], ["statistical_zscore"])[0]
    assert run.status == "failed"
    assert "No order rows" in run.error


def test_task_hook_fails_run_on_task_error(db):
    from anomalies.tasks import record_task_result

    run = Run.objects.create(
        kind="train", detector="dbscan", entity_type="order", status="running"
    )
    record_task_result(Task(id="t1", args=(run.pk,), success=False, result="timed out"))
    run.refresh_from_db()
    assert run.status == "failed"
    assert "timed out" in run.error


@pytest.fixture
def sampled(shop, monkeypatch):
    monkeypatch.setattr(feature_module, "CHUNK_ROWS", 37)
    training = services.start_runs(
        "train",
        ["activity"],
        ["isolation_forest"],
        parameters={"iforest_n_estimators": 20, "max_train_rows": 100},
        background=False,
    )
    detection = services.start_runs(
        "detect", ["activity"], ["isolation_forest"], background=False
    )
    return training[0], detection[0]


def test_training_sample_bounds_model_rows(sampled):
    training, _detection = sampled
    assert training.trained_model.training_rows == 100


def test_training_sample_recorded_on_run(sampled):
    training, _detection = sampled
    assert training.rows_processed == 100


def test_detection_after_sampled_training_scores_every_row(sampled):
    _training, detection = sampled
    assert (detection.status, detection.rows_processed) == ("succeeded", 308)


def test_training_sample_keeps_whole_window(sampled):
    training, _detection = sampled
    model = training.trained_model
    span = UserActivity.objects.aggregate(Min("timestamp"), Max("timestamp"))
    assert (model.window_start, model.window_end) == (
        span["timestamp__min"],
        span["timestamp__max"],
    )


@pytest.mark.parametrize(
    ("total", "size", "slices"),
    [(1000, 100, [250, 250, 250, 250]), (1000, 5000, [600, 400]), (7, 3, [1] * 7)],
)
def test_training_sample_draws_exact_count(total, size, slices):
    sampler = services.TrainingSample(total, size, seed=1)
    drawn = sum(len(sampler.positions(rows)) for rows in slices)
    assert drawn == min(total, size)


def test_training_sample_positions_sorted():
    positions = services.TrainingSample(1000, 300, seed=1).positions(500)
    assert np.all(np.diff(positions) > 0)


def test_training_sample_positions_within_slice():
    positions = services.TrainingSample(1000, 300, seed=1).positions(500)
    assert positions.max() < 500


def test_training_sample_is_uniform_across_slices():
    counts = [
        len(services.TrainingSample(10_000, 1_000, seed=seed).positions(2_000))
        for seed in range(200)
    ]
    assert abs(np.mean(counts) - 200) < 5
