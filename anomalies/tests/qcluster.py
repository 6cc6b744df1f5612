"""Start a real ``manage.py qcluster`` worker on the test database, and stop it."""

import contextlib
import os
import signal
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django_q.brokers import get_broker
from django_q.conf import Conf


def worker_database_url():
    """Return a DATABASE_URL naming the test database this process uses."""
    database = connection.settings_dict
    name = str(database["NAME"])
    if database["ENGINE"] == "django.db.backends.sqlite3":
        if name == ":memory:" or name.startswith("file:"):
            pytest.skip("The worker cannot share an in-memory SQLite test database.")
        return f"sqlite:///{name}"
    if database["ENGINE"] == "django.db.backends.postgresql":
        user = quote(database.get("USER") or "", safe="")
        password = quote(database.get("PASSWORD") or "", safe="")
        login = ""
        if user:
            login = f"{user}:{password}@" if password else f"{user}@"
        host = database.get("HOST") or "127.0.0.1"
        port = database.get("PORT") or 5432
        return f"postgres://{login}{host}:{port}/{quote(name, safe='')}"
    pytest.skip(f"No worker database URL for engine {database['ENGINE']}.")


def stop_process_group(process, timeout=30):
    """Stop a worker and the processes it forked: SIGTERM, then SIGKILL if needed."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def qcluster(log_path, var_dir, timeout, environment=None):
    """Run ``manage.py qcluster`` on this process's test database until the block ends.

    The worker runs in its own process group, so that stopping it also stops
    the processes the cluster forks. It is stopped even when the block fails.
    Its output goes to ``log_path`` and ``timeout`` is the task timeout in
    seconds. ``environment`` adds or replaces environment variables. Yields
    the ``Popen`` of the cluster's main process.
    """
    # Start from an empty queue: tests that ran earlier in this process queued
    # tasks that no worker took, and this worker must not run them first.
    get_broker().purge_queue()
    child_environment = {
        **os.environ,
        "ANOMALENS_TASK_QUEUE": Conf.CLUSTER_NAME,
        # The worker has its own VAR_DIR, so it would create another key and
        # reject the tasks this process signs.
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": worker_database_url(),
        "ANOMALENS_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ANOMALENS_VAR_DIR": str(var_dir),
        "ANOMALENS_Q_WORKERS": "1",
        "ANOMALENS_TASK_TIMEOUT": str(timeout),
        **(environment or {}),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=child_environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process_group(process)
