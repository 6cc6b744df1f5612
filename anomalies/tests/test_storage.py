import datetime

import psycopg
import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from anomalies import storage
from anomalies.detectors.zscore import ZScoreDetector
from anomalies.models import Finding, Run, TrainedModel

from .test_detectors import normal_frame

WINDOW = (
    datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC),
)


@pytest.fixture
def detector():
    return ZScoreDetector(z_threshold=3.0).fit(normal_frame("order"))


@pytest.fixture
def record(db, detector):
    return storage.save_model(detector, "order", training_rows=400, window=WINDOW)


def test_saved_model_round_trips(record, detector):
    loaded = storage.load_model(record)
    frame = normal_frame("order", seed=5)
    assert loaded.score(frame).equals(detector.score(frame))


def test_saved_model_is_active(record):
    assert storage.active_model("statistical_zscore", "order").pk == record.pk


def test_new_version_keeps_old_one(record, detector):
    newer = storage.save_model(detector, "order", training_rows=400, window=WINDOW)
    record.refresh_from_db()
    assert newer.is_active
    assert not record.is_active
    assert TrainedModel.objects.count() == 2


def test_switch_back_to_old_version(record, detector):
    newer = storage.save_model(detector, "order", training_rows=400, window=WINDOW)
    storage.activate_model(record)
    newer.refresh_from_db()
    assert storage.active_model("statistical_zscore", "order").pk == record.pk
    assert not newer.is_active


def test_other_sklearn_version_asks_to_retrain(record):
    record.sklearn_version = "0.24.2"
    with pytest.raises(storage.ModelLoadError, match="scikit-learn 0.24.2.*retrain"):
        storage.load_model(record)


def test_other_feature_list_asks_to_retrain(record):
    record.feature_names = ["total", "hour"]
    with pytest.raises(storage.ModelLoadError, match="different feature list"):
        storage.load_model(record)


def test_tampered_file_is_not_unpickled(record, monkeypatch):
    path = record.file.path
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    monkeypatch.setattr(
        storage.joblib, "load", lambda *a: pytest.fail("unpickled a tampered file")
    )
    with pytest.raises(storage.ModelLoadError, match="checksum"):
        storage.load_model(record)


def test_missing_file_asks_to_retrain(record):
    record.file.storage.delete(record.file.name)
    with pytest.raises(storage.ModelLoadError, match="missing"):
        storage.load_model(record)


@pytest.mark.django_db
def test_no_active_model_says_train_first():
    with pytest.raises(storage.NoActiveModelError, match="train it first"):
        storage.active_model("dbscan", "activity")


@pytest.mark.django_db
def test_failed_save_removes_file(detector, media_root, monkeypatch):
    def fail(*args, **kwargs):
        raise IntegrityError("simulated write failure")

    monkeypatch.setattr(TrainedModel, "save", fail)
    with pytest.raises(IntegrityError):
        storage.save_model(detector, "order", training_rows=400, window=WINDOW)
    files = [path for path in media_root.rglob("*") if path.is_file()]
    assert files == []


def finding_rows(run, count):
    """Return ``count`` finding tuples whose explanations need escaping in COPY."""
    times = storage.adapt_times(
        [datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.UTC)] * count
    )
    explanation = '[{"feature": "path\\tname\\n", "note": "back\\\\slash \\u00e9"}]'
    return [
        (
            run.pk,
            "statistical_zscore",
            "activity",
            entity_id,
            times[entity_id],
            float(entity_id),
            50.0,
            "high",
            explanation,
            "new",
            times[entity_id],
        )
        for entity_id in range(count)
    ]


@pytest.fixture
def run(db):
    return Run.objects.create(
        kind="detect", detector="statistical_zscore", entity_type="activity"
    )


def test_insert_findings_round_trip(run):
    storage.insert_findings(finding_rows(run, 3))

    stored = list(Finding.objects.filter(run=run).order_by("entity_id"))
    assert [finding.entity_id for finding in stored] == [0, 1, 2]
    assert stored[0].explanation == [
        {"feature": "path\tname\n", "note": "back\\slash \u00e9"}
    ]
    assert stored[2].raw_score == 2.0
    assert stored[1].entity_time == datetime.datetime(
        2024, 1, 1, 12, tzinfo=datetime.UTC
    )


def test_insert_findings_uses_fast_path(run, monkeypatch):
    """COPY on PostgreSQL, one executemany per page elsewhere."""
    monkeypatch.setattr(storage, "FINDING_BATCH_ROWS", 2)
    if connection.vendor == "postgresql":
        statements = []
        original = psycopg.Cursor.copy

        def spy(cursor, statement, *args, **kwargs):
            statements.append(str(statement))
            return original(cursor, statement, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "copy", spy)
        storage.insert_findings(finding_rows(run, 5))
        assert len(statements) == 3
        assert statements[0].startswith('COPY "anomalies_finding"')
    else:
        with CaptureQueriesContext(connection) as queries:
            storage.insert_findings(finding_rows(run, 5))
        inserts = [query["sql"] for query in queries if "INSERT" in query["sql"]]
        assert len(inserts) == 3
        assert inserts[0].startswith("2 times: INSERT INTO")
