"""Detect on the shared real access logs, when the shared data folder is present."""

import json
import os
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from anomalies import services
from anomalies.views_clients import ranked_clients

# ANOMALENS_REAL_DATA: folder of third-party sample data. Default: shared/data
# beside the repository folder.
REAL_DATA = Path(
    os.environ.get(
        "ANOMALENS_REAL_DATA",
        Path(__file__).resolve().parents[2].parent / "shared" / "data",
    )
)
LOGS = REAL_DATA / "access-logs"
APACHE_LOG = LOGS / "apache-combined-2015.log"
# The fail2ban fixture whose annotated host probes phpMyAdmin setup scripts.
BAD_BOTS = LOGS / "fail2ban" / "apache-badbots.log"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (APACHE_LOG.is_file() and BAD_BOTS.is_file()),
        reason=f"real data not found at {LOGS}; set ANOMALENS_REAL_DATA",
    ),
]


def annotated_bad_hosts(path):
    """Return the hosts that the fixture's failJSON comments mark as bad bots."""
    hosts = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"#\s*failJSON:\s*(\{.*\})", line)
        if match:
            annotation = json.loads(match.group(1))
            if annotation.get("match") and annotation.get("host"):
                hosts.add(annotation["host"])
    return hosts


@pytest.fixture
def detected(db):
    """Import the Apache log and every fail2ban fixture, then train and detect."""
    files = [str(APACHE_LOG), *map(str, sorted((LOGS / "fail2ban").glob("*.log")))]
    call_command("import_access_log", *files, stdout=StringIO())
    detectors = ["isolation_forest", "statistical_zscore"]
    services.start_runs("train", ["activity"], detectors, background=False)
    services.start_runs("detect", ["activity"], detectors, background=False)


def test_annotated_scanner_flagged(detected):
    flagged = {row["ip"] for row in ranked_clients()}
    assert annotated_bad_hosts(BAD_BOTS) & flagged


def test_clients_page_renders_real_data(detected, client, reader_user):
    client.force_login(reader_user)
    response = client.get(reverse("anomalies:clients"))
    assert response.status_code == 200
    assert len(response.context["clients"]) == 25
