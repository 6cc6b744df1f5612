"""django-q2 task functions for training and detection runs."""

import logging

from django.db import close_old_connections

from .models import Run
from .services import detect_after_training, execute_run, mark_failed

logger = logging.getLogger(__name__)


def execute_run_task(run_id):
    """Execute a queued run inside a worker; return its final status."""
    close_old_connections()
    run = execute_run(run_id)
    return None if run is None else run.status


def detect_after_training_task(run_id, training_run_id):
    """Execute a detection run once its training run has ended; return its status."""
    close_old_connections()
    run = detect_after_training(run_id, training_run_id)
    return None if run is None else run.status


def record_task_result(task):
    """Mark the run failed when its task failed outside ``execute_run`` (a timeout)."""
    if task.success or not task.args:
        return
    run_id = task.args[0]
    reason = f"Background task {task.id} failed: {task.result}"
    if mark_failed(run_id, reason):
        logger.error("Run %s failed in the worker: %s", run_id, task.result)
    elif not Run.objects.filter(pk=run_id).exists():
        logger.error("Task %s finished for missing run %s", task.id, run_id)
