"""Damaged model files at detection and storage failures while a model is saved."""

import errno

import pytest
from django.core.files.base import ContentFile

from anomalies import services, storage
from anomalies.models import Finding, TrainedModel


@pytest.fixture
def zscore_model(shop):
    """Train the Z-score detector on orders and return its active model."""
    run = services.start_runs(
        "train", ["order"], ["statistical_zscore"], background=False
    )[0]
    assert run.status == "succeeded"
    return TrainedModel.objects.get(is_active=True)


def remove_file(record):
    record.file.storage.delete(record.file.name)


def truncate_file(record):
    path = record.file.path
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])


def corrupt_file_keeping_checksum(record):
    """Overwrite the file with bytes joblib cannot read and record their checksum."""
    garbage = b"\x80\x04not a pickle at all" * 10
    with open(record.file.path, "wb") as handle:
        handle.write(garbage)
    TrainedModel.objects.filter(pk=record.pk).update(
        file_sha256=storage.sha256_of(garbage)
    )


@pytest.mark.parametrize(
    "damage", [remove_file, truncate_file, corrupt_file_keeping_checksum]
)
def test_damaged_model_fails_detection_run(zscore_model, damage):
    damage(zscore_model)
    run = services.start_runs(
        "detect", ["order"], ["statistical_zscore"], background=False
    )[0]
    assert run.status == "failed"
    assert "retrain" in run.error
    assert f"v{zscore_model.pk}" in run.error
    assert not Finding.objects.filter(run=run).exists()


def test_unreadable_model_raises_model_load_error(zscore_model):
    corrupt_file_keeping_checksum(zscore_model)
    zscore_model.refresh_from_db()
    with pytest.raises(storage.ModelLoadError, match="cannot be read.*retrain"):
        storage.load_model(zscore_model)


@pytest.fixture
def disk_full_midway(monkeypatch):
    """Make the next file write stop with ENOSPC after its first chunk."""

    def chunks(self, chunk_size=None):
        data = self.read()
        yield data[:64]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ContentFile, "chunks", chunks)


def stored_files(media_root):
    return {path for path in media_root.rglob("*") if path.is_file()}


def test_disk_full_while_saving_fails_training_run(
    zscore_model, media_root, disk_full_midway
):
    files_before = stored_files(media_root)
    run = services.start_runs(
        "train", ["order"], ["statistical_zscore"], background=False
    )[0]
    assert run.status == "failed"
    assert "No space left on device" in run.error
    assert run.trained_model_id is None
    assert TrainedModel.objects.count() == 1
    assert TrainedModel.objects.get(is_active=True).pk == zscore_model.pk
    assert stored_files(media_root) == files_before


def test_previous_model_still_detects_after_failed_save(
    zscore_model, disk_full_midway, monkeypatch
):
    services.start_runs("train", ["order"], ["statistical_zscore"], background=False)
    monkeypatch.undo()
    run = services.start_runs(
        "detect", ["order"], ["statistical_zscore"], background=False
    )[0]
    assert run.status == "succeeded"
    assert run.trained_model_id == zscore_model.pk


def test_partial_model_file_is_removed(zscore_model, media_root, disk_full_midway):
    detector = storage.load_model(zscore_model)
    window = (zscore_model.window_start, zscore_model.window_end)
    files_before = stored_files(media_root)
    with pytest.raises(OSError, match="No space left"):
        storage.save_model(detector, "order", training_rows=10, window=window)
    assert stored_files(media_root) == files_before
