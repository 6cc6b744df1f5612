"""Reading features in time slices and writing findings in bulk."""

import datetime
import json

import numpy as np
import pandas as pd
import pytest

from anomalies import features as features_module
from anomalies import storage
from anomalies.features import FeatureChunks, load_features
from anomalies.models import Finding, Run


def _joined(chunks):
    frames = list(chunks)
    return (
        pd.concat([frame.features for frame in frames]),
        pd.concat([frame.times for frame in frames]),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [None, 150])
@pytest.mark.parametrize("chunk_rows", [1, 37, 100_000])
def test_chunks_equal_one_load(shop, limit, chunk_rows):
    whole, whole_times = load_features("activity", limit=limit)
    features, times = _joined(
        FeatureChunks("activity", limit=limit, chunk_rows=chunk_rows)
    )
    pd.testing.assert_frame_equal(features, whole)
    pd.testing.assert_series_equal(times, whole_times, check_names=False)


@pytest.mark.django_db
def test_chunks_count_rows(shop):
    assert len(FeatureChunks("activity", limit=150, chunk_rows=37)) == 150


@pytest.mark.django_db
def test_chunks_keep_each_instant_whole(shop):
    chunks = FeatureChunks("activity", chunk_rows=37)
    # Rows 0-2 and 3-4 share an instant, so a cut after two rows moves to 3.
    chunks.times = pd.to_datetime(
        ["2024-01-01T00:00:00"] * 3 + ["2024-01-01T00:00:01"] * 2
    ).to_numpy()
    chunks.ids = chunks.ids[:5]
    chunks.chunk_rows = 2
    assert chunks.bounds() == [(0, 3), (3, 5)]


@pytest.mark.django_db
def test_order_chunks_equal_one_load(shop):
    whole, _times = load_features("order")
    features, _times = _joined(FeatureChunks("order", chunk_rows=5))
    pd.testing.assert_frame_equal(features, whole)


@pytest.mark.django_db
def test_insert_findings_round_trip(shop):
    run = Run.objects.create(kind="detect", detector="dbscan", entity_type="activity")
    when = datetime.datetime(2024, 3, 4, 9, 0, 1, 250, tzinfo=datetime.UTC)
    whole_second = datetime.datetime(2024, 3, 4, 9, 0, 2, tzinfo=datetime.UTC)
    explanation = [{"feature": "hour", "value": 3.0}]
    times = storage.adapt_times([when, whole_second])
    created = storage.adapt_times([when])[0]
    storage.insert_findings(
        [
            (
                run.pk,
                "dbscan",
                "activity",
                7,
                times[0],
                2.5,
                99.5,
                "high",
                json.dumps(explanation),
                "new",
                created,
            ),
            (
                run.pk,
                "dbscan",
                "activity",
                8,
                times[1],
                1.0,
                50.0,
                "low",
                "[]",
                "new",
                created,
            ),
        ]
    )
    stored = {finding.entity_id: finding for finding in Finding.objects.filter(run=run)}
    assert stored[7].entity_time == when
    assert stored[8].entity_time == whole_second
    assert stored[7].explanation == explanation
    assert stored[7].created_at == when
    assert Finding.objects.filter(entity_time__gte=whole_second).count() == 1


def test_shared_strings_keep_values_and_gaps():
    values = pd.Series(
        ["page_view", None, "".join(["page_", "view"]), float("nan"), "login"],
        dtype=object,
    )
    assert values[0] is not values[2]

    shared = features_module._shared_strings(values)

    assert shared[0] is shared[2]
    assert shared.tolist()[:3] == ["page_view", None, "page_view"]
    assert np.isnan(shared[3])
    assert shared[4] == "login"
    assert shared.index.equals(values.index)
