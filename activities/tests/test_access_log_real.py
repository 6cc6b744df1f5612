"""Import the shared real access logs, when the shared data folder is present."""

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count

from activities.models import UserActivity
from store.models import DataBatch

# ANOMALENS_REAL_DATA: folder of third-party sample data. Default: shared/data
# beside the repository folder.
REAL_DATA = Path(
    os.environ.get(
        "ANOMALENS_REAL_DATA",
        Path(__file__).resolve().parents[2].parent / "shared" / "data",
    )
)
DATA = REAL_DATA / "access-logs"
APACHE_LOG = DATA / "apache-combined-2015.log"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not APACHE_LOG.is_file(),
        reason=f"real data not found at {DATA}; set ANOMALENS_REAL_DATA",
    ),
]


@pytest.fixture
def apache_batch(db):
    call_command("import_access_log", str(APACHE_LOG), stdout=StringIO())
    return DataBatch.objects.get(kind="access_log")


def test_real_apache_every_line_imported(apache_batch):
    assert apache_batch.stats["imported"] == 10_000
    assert apache_batch.stats["skipped"] == 0


def test_real_apache_distinct_clients(apache_batch):
    assert apache_batch.stats["distinct_clients"] == 1_753


def test_real_apache_time_span(apache_batch):
    assert apache_batch.stats["first_timestamp"].startswith("2015-05-17")
    assert apache_batch.stats["last_timestamp"].startswith("2015-05-20")


def test_real_apache_rows_have_address_and_session(apache_batch):
    rows = UserActivity.objects.filter(batch=apache_batch)
    assert not rows.filter(ip_address__isnull=True).exists()
    assert not rows.filter(session_id="").exists()


def test_real_apache_has_client_errors(apache_batch):
    statuses = (
        UserActivity.objects.filter(batch=apache_batch)
        .values("details__status")
        .annotate(rows=Count("id"))
    )
    assert any(400 <= row["details__status"] < 500 for row in statuses)


@pytest.mark.parametrize(
    ("name", "imported", "skipped_format"),
    [
        ("apache-badbots.log", 4, 0),
        ("apache-fakegooglebot.log", 3, 0),
        ("nginx-bad-request.log", 8, 0),
        # The six nginx error-log lines in this file are not access-log lines.
        ("nginx-botsearch.log", 8, 6),
    ],
)
def test_real_fail2ban_hard_lines(db, name, imported, skipped_format):
    call_command("import_access_log", str(DATA / "fail2ban" / name), stdout=StringIO())
    stats = DataBatch.objects.get(label=name).stats
    assert stats["imported"] == imported
    assert stats["skipped_by_reason"].get(
        "not in common or combined log format", 0
    ) == (skipped_format)
