"""Run metrics from known truth: alignment, kinds, and the sampled score curves."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from anomalies import evaluation


def make_truth(kinds_by_id):
    ids = sorted(kinds_by_id)
    categories = ["", *sorted({kind for kind in kinds_by_id.values() if kind})]
    return pd.Series(
        pd.Categorical([kinds_by_id[i] for i in ids], categories=categories),
        index=pd.Index(ids, name="id"),
    )


def synthetic_scores(rows, positives, seed=3):
    """Return labels and raw scores where anomalies score higher on average."""
    rng = np.random.default_rng(seed)
    y = np.zeros(rows, dtype=bool)
    y[rng.choice(rows, positives, replace=False)] = True
    raw = rng.normal(size=rows) + 1.5 * y
    return y, raw


def test_curve_sample_keeps_small_sets_whole():
    y = np.array([False, True, False, False])

    positions, weights = evaluation.curve_sample(y, max_normal=3)

    assert positions.tolist() == [0, 1, 2, 3]
    assert weights is None


def test_curve_sample_weights_normal_rows_back():
    y, _raw = synthetic_scores(10_000, 50)

    positions, weights = evaluation.curve_sample(y, max_normal=1_000)

    assert y[positions].sum() == 50
    assert (~y[positions]).sum() == 1_000
    assert np.all(np.diff(positions) > 0)
    assert weights[y[positions]].tolist() == [1.0] * 50
    assert weights[~y[positions]].sum() == pytest.approx(9_950)


def test_curve_sample_same_rows_each_call():
    y, _raw = synthetic_scores(10_000, 50)

    first, _ = evaluation.curve_sample(y, max_normal=500)
    second, _ = evaluation.curve_sample(y, max_normal=500)

    assert first.tolist() == second.tolist()


def test_sampled_auc_close_to_exact(monkeypatch):
    y, raw = synthetic_scores(200_000, 400)
    flagged = raw > 2.0
    monkeypatch.setattr(evaluation, "MAX_CURVE_NORMAL_ROWS", 20_000)

    metrics = evaluation.classification_metrics(y, flagged, raw)

    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, raw), abs=0.01)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, raw), abs=0.03)
    # Counts read every row, never the sample.
    assert metrics["recall"] == pytest.approx(flagged[y].mean(), abs=1e-6)
    assert metrics["precision"] == pytest.approx(y[flagged].mean(), abs=1e-6)


def test_metrics_skip_rows_without_truth():
    truth = make_truth({1: "", 2: "burst", 3: "", 4: "scraper", 5: ""})
    ids = np.array([9, 5, 4, 3, 2, 1, 7])
    raw = np.array([9.0, 0.1, 0.9, 0.2, 0.8, 0.3, 9.0])
    flagged = np.array([True, False, True, False, False, False, True])

    metrics = evaluation.metrics_for_arrays(truth, ids, raw, raw * 10, flagged)

    assert metrics["labelled_rows"] == 5
    assert metrics["positives"] == 2
    assert metrics["overall"]["precision"] == 1.0
    assert metrics["overall"]["recall"] == 0.5
    assert metrics["overall"]["roc_auc"] == 1.0
    assert list(metrics["per_kind"]) == ["burst", "scraper"]
    assert metrics["per_kind"]["burst"]["count"] == 1
    assert metrics["per_kind"]["burst"]["recall"] == 0.0
    assert metrics["per_kind"]["scraper"]["recall"] == 1.0


def test_metrics_empty_without_anomalies():
    truth = make_truth({1: "", 2: ""})

    metrics = evaluation.metrics_for_arrays(
        truth, np.array([1, 2]), np.zeros(2), np.zeros(2), np.zeros(2, dtype=bool)
    )

    assert metrics == {}


def test_metrics_accept_object_truth():
    truth = pd.Series(["", "burst", ""], index=pd.Index([3, 1, 2], name="id"))
    scores = pd.DataFrame(
        {"raw_score": [0.9, 0.1, 0.2], "score": [90.0, 10.0, 20.0]},
        index=pd.Index([1, 2, 3], name="id"),
    )
    scores["is_anomaly"] = [True, False, False]

    metrics = evaluation.metrics_for_scores(truth, scores)

    assert metrics["positives"] == 1
    assert metrics["overall"]["f1"] == 1.0
    assert metrics["score_histogram"]["anomalous"][18] == 1
