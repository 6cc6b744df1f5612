"""Background simulation runs for django-q2."""

import logging

from django.db import transaction
from django.utils import timezone

from simulator.config import SimulationConfig
from simulator.engine import run_simulation
from simulator.models import SimulationRun

logger = logging.getLogger(__name__)


def execute_run(run):
    """Run the simulation a SimulationRun describes and record its outcome."""
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.RUNNING, started_at=timezone.now(), progress=0.0
    )
    last = {"progress": -1.0}

    def progress(fraction, message):
        # One UPDATE per percent at most.
        if fraction - last["progress"] >= 0.01:
            last["progress"] = fraction
            SimulationRun.objects.filter(pk=run.pk).update(progress=fraction)

    try:
        config = SimulationConfig.from_dict(run.config)
        result = run_simulation(config, progress=progress)
    except Exception as exc:
        logger.exception("Simulation run %s failed", run.pk)
        if transaction.get_connection().in_atomic_block:
            raise
        SimulationRun.objects.filter(pk=run.pk).update(
            status=SimulationRun.Status.FAILED,
            error=str(exc),
            finished_at=timezone.now(),
        )
        raise
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.SUCCEEDED,
        progress=1.0,
        result=result.as_dict(),
        batch=result.batch,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def simulate_run(run_id):
    """Task entry point: run the queued SimulationRun ``run_id``."""
    run = SimulationRun.objects.get(pk=run_id)
    execute_run(run)
    return run_id
