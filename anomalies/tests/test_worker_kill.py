"""Kill a real django-q2 worker in the middle of training and check what is left.

A killed task reports nothing, so the run ends through its heartbeat: once
the heartbeat is older than the stale age, ``fail_stale_runs`` marks it
failed. The model that was active before the run must stay active, and no
model file other than its own may be left for that detector.
"""

import os
import signal
import time
from pathlib import Path

import pytest

from anomalies import services
from anomalies.models import Run, TrainedModel
from anomalies.tests.qcluster import qcluster
from simulator.config import SimulationConfig
from simulator.engine import run_simulation

pytestmark = pytest.mark.django_db(transaction=True)

DETECTOR = "isolation_forest"
ENTITY = "activity"
# Short heartbeats so that the test waits seconds, not minutes.
HEARTBEAT_SECONDS = 0.5
STALE_RUN_SECONDS = 2.0
# Enough trees on the simulated events that the fit lasts several seconds.
SLOW_PARAMETERS = {"iforest_n_estimators": 2000}
# Seconds to wait for the worker to start the run.
START_WAIT_SECONDS = 90
# Seconds after the kill within which the run must be marked failed.
FAIL_WAIT_SECONDS = STALE_RUN_SECONDS + 8


def wait_for(condition, limit, what, log_path):
    """Poll ``condition`` every 0.1 s and fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"Timed out after {limit} s waiting for {what}. Worker log:\n{log}")


def run_status(run_pk):
    return Run.objects.values_list("status", flat=True).get(pk=run_pk)


def model_files(media_root):
    folder = Path(media_root) / "models" / DETECTOR / ENTITY
    return sorted(path.name for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def previous_model(settings):
    """Simulate a small shop and train the first model inline; return its record."""
    run_simulation(
        SimulationConfig(
            customers=40, products=15, orders=500, activities=20_000, days=3, seed=11
        )
    )
    (run,) = services.start_runs("train", [ENTITY], [DETECTOR], background=False)
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run.trained_model


def test_worker_killed_mid_training(previous_model, settings, tmp_path):
    settings.STALE_RUN_SECONDS = STALE_RUN_SECONDS
    log_path = tmp_path / "qcluster.log"
    environment = {
        "ANOMALENS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "ANOMALENS_STALE_RUN_SECONDS": str(STALE_RUN_SECONDS),
    }
    with qcluster(log_path, tmp_path / "var", 120, environment) as worker:
        (run,) = services.start_runs(
            "train", [ENTITY], [DETECTOR], SLOW_PARAMETERS, background=True
        )
        wait_for(
            lambda: run_status(run.pk) != Run.Status.QUEUED,
            START_WAIT_SECONDS,
            "the worker to start the run",
            log_path,
        )
        # Outlive the stale age while the worker is alive, so only heartbeats keep it.
        time.sleep(STALE_RUN_SECONDS + 4 * HEARTBEAT_SECONDS)
        assert services.fail_stale_runs() == 0
        assert run_status(run.pk) == Run.Status.RUNNING
        os.killpg(worker.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        worker.wait(timeout=10)

    wait_for(
        lambda: services.fail_stale_runs() or run_status(run.pk) == Run.Status.FAILED,
        FAIL_WAIT_SECONDS,
        "the killed run to be marked failed",
        log_path,
    )
    run.refresh_from_db()
    assert time.monotonic() - killed_at < FAIL_WAIT_SECONDS
    assert "stopped sending heartbeats" in run.error
    assert run.trained_model is None
    active = TrainedModel.objects.get(
        detector=DETECTOR, entity_type=ENTITY, is_active=True
    )
    assert active.pk == previous_model.pk
    assert (
        TrainedModel.objects.filter(detector=DETECTOR, entity_type=ENTITY).count() == 1
    )
    assert model_files(settings.MEDIA_ROOT) == [Path(previous_model.file.name).name]
