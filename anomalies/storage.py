"""Save fitted detectors with joblib and load them back only when they can be trusted.

A file is unpickled only when its SHA-256 matches the one recorded when this
application wrote it, it was saved under the running scikit-learn version, and
its feature list matches the current feature builder. Every other case raises
``ModelLoadError`` whose message tells the user to retrain.
"""

import hashlib
import io
import logging
import uuid

import joblib
import pandas as pd
import sklearn
from django.core.files.base import ContentFile
from django.db import connection, transaction

from store.bulk import insert_rows

from .features import feature_names
from .models import Finding, TrainedModel

logger = logging.getLogger(__name__)


# Columns of a finding row given to ``insert_findings``, in this order.
FINDING_COLUMNS = (
    "run_id",
    "detector",
    "entity_type",
    "entity_id",
    "entity_time",
    "raw_score",
    "score",
    "severity",
    "explanation",
    "review_status",
    "created_at",
)
# Finding rows per COPY or executemany call.
FINDING_BATCH_ROWS = 5_000


class ModelLoadError(Exception):
    """Error for a saved model that cannot be used, with a request to retrain."""


class NoActiveModelError(ModelLoadError):
    """No model was trained yet for a detector and entity type."""


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def save_model(detector, entity_type, training_rows, window, run=None):
    """Write the detector's file, then record it as the active model in one transaction.

    The previous active model of the same detector and entity type stays as
    an inactive version. When the database write fails, the file just written
    is deleted again, so no half-saved model is left behind.
    """
    buffer = io.BytesIO()
    joblib.dump(detector, buffer, compress=3)
    data = buffer.getvalue()
    record = TrainedModel(
        detector=detector.name,
        entity_type=entity_type,
        file_sha256=sha256_of(data),
        parameters=detector.parameters,
        feature_names=list(detector.feature_names_),
        training_rows=training_rows,
        window_start=window[0],
        window_end=window[1],
        sklearn_version=sklearn.__version__,
        is_active=True,
        run=run,
    )
    filename = f"{uuid.uuid4().hex}.joblib"
    name = record.file.field.generate_filename(record, filename)
    try:
        record.file.save(filename, ContentFile(data), save=False)
    except Exception:
        # The file system storage leaves what it wrote when a write fails part
        # way (a full disk), so remove the partial file before re-raising.
        logger.exception("Writing model file %s failed", name)
        if record.file.storage.exists(name):
            record.file.storage.delete(name)
        raise
    try:
        with transaction.atomic():
            TrainedModel.objects.filter(
                detector=detector.name, entity_type=entity_type, is_active=True
            ).update(is_active=False)
            record.save()
    except Exception:
        logger.exception("Saving model %s/%s failed", detector.name, entity_type)
        record.file.storage.delete(record.file.name)
        raise
    logger.info(
        "Saved model %s/%s v%s (%d training rows, %d bytes)",
        detector.name,
        entity_type,
        record.pk,
        training_rows,
        len(data),
    )
    return record


def activate_model(record):
    """Make ``record`` the active version of its detector and entity type."""
    with transaction.atomic():
        TrainedModel.objects.filter(
            detector=record.detector, entity_type=record.entity_type, is_active=True
        ).exclude(pk=record.pk).update(is_active=False)
        TrainedModel.objects.filter(pk=record.pk).update(is_active=True)
    record.is_active = True
    return record


def active_model(detector_name, entity_type):
    """Return the active ``TrainedModel`` row, or raise ``NoActiveModelError``."""
    record = TrainedModel.objects.filter(
        detector=detector_name, entity_type=entity_type, is_active=True
    ).first()
    if record is None:
        raise NoActiveModelError(
            f"No trained {detector_name} model for {entity_type}: train it first "
            f"(python manage.py train --entity {entity_type} "
            f"--algorithms {detector_name})."
        )
    return record


def check_model(record):
    """Raise ``ModelLoadError`` unless ``record`` matches this installation."""
    label = f"Model {record.detector}/{record.entity_type} v{record.pk}"
    if record.sklearn_version != sklearn.__version__:
        raise ModelLoadError(
            f"{label} was saved under scikit-learn {record.sklearn_version}, but "
            f"{sklearn.__version__} is installed; retrain the detector."
        )
    expected = feature_names(record.entity_type)
    if list(record.feature_names) != expected:
        raise ModelLoadError(
            f"{label} was trained on a different feature list than the current "
            "one; retrain the detector."
        )


def load_model(record):
    """Load the detector saved in ``record`` after checking version, features and hash."""
    check_model(record)
    label = f"Model {record.detector}/{record.entity_type} v{record.pk}"
    try:
        with record.file.open("rb") as handle:
            data = handle.read()
    except (FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(f"{label}: file is missing ({exc}); retrain.") from exc
    if sha256_of(data) != record.file_sha256:
        raise ModelLoadError(
            f"{label}: file checksum does not match the one recorded when it was "
            "saved, so it is not loaded; retrain the detector."
        )
    try:
        detector = joblib.load(io.BytesIO(data))
    except Exception as exc:
        # The checksum matched, so the file is the one saved, but this installation
        # cannot read it back (for example, another numpy or joblib version).
        raise ModelLoadError(
            f"{label}: file cannot be read ({type(exc).__name__}: {exc}); retrain."
        ) from exc
    if getattr(detector, "name", None) != record.detector:
        raise ModelLoadError(
            f"{label}: the file contains another detector. Retrain it."
        )
    return detector


def adapt_times(values):
    """Convert timestamps to the values the database stores for a DateTimeField.

    Aware or naive-UTC values in, one value per row out: on SQLite the text
    Django itself writes (naive UTC, no fraction when it is zero), elsewhere
    aware datetimes for the driver.
    """
    index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    if connection.vendor == "sqlite":
        text = pd.Series(index.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S.%f"))
        return text.str.removesuffix(".000000").tolist()
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "postgresql":
        return index.to_pydatetime().tolist()
    return [adapt(value) for value in index.to_pydatetime()]


def insert_findings(rows):
    """Insert finding tuples (``FINDING_COLUMNS`` order) in pages of FINDING_BATCH_ROWS.

    ``explanation`` is JSON text and the times come from ``adapt_times``; the
    rows skip model instances, which cost more than the insert itself. Each
    page goes through COPY on PostgreSQL and one executemany elsewhere. Call
    it inside the transaction that also marks the run finished.
    """
    for begin in range(0, len(rows), FINDING_BATCH_ROWS):
        insert_rows(Finding, FINDING_COLUMNS, rows[begin : begin + FINDING_BATCH_ROWS])
