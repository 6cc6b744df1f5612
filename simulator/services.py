"""Start a simulation inline or on the task queue, shared by the API and the page."""

import logging

from django.conf import settings
from django_q.tasks import async_task

from simulator.models import SimulationRun
from simulator.tasks import execute_run

logger = logging.getLogger(__name__)

# Requests whose weighted row count is at most this run inside the request;
# larger ones go to the task queue. Override with SIMULATOR_INLINE_MAX_ROWS.
DEFAULT_INLINE_MAX_ROWS = 20_000


def inline_limit():
    return getattr(settings, "SIMULATOR_INLINE_MAX_ROWS", DEFAULT_INLINE_MAX_ROWS)


def weighted_rows(config):
    """Return the work a config asks for: events, plus orders with their items."""
    return config.activities + 3 * config.orders + config.customers + config.products


def start_run(config, user):
    """Create a SimulationRun and run it inline when small, else queue it.

    Returns (run, queued). An inline run that fails raises its error after
    the run is marked failed.
    """
    run = SimulationRun.objects.create(
        config=config.to_dict(), requested_by=user if user.is_authenticated else None
    )
    if weighted_rows(config) <= inline_limit():
        execute_run(run)
        return run, False
    task_id = async_task(
        "simulator.tasks.simulate_run", run.pk, task_name=f"simulation-{run.pk}"
    )
    SimulationRun.objects.filter(pk=run.pk).update(task_id=task_id or "")
    run.refresh_from_db()
    logger.info("Queued simulation run %s as task %s", run.pk, task_id)
    return run, True
