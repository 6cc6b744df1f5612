"""Measure detectors against the simulator's ground truth.

This is the only module of the anomalies app that reads
``simulator.AnomalyLabel``; features and detectors never see the labels.
Rows the simulator wrote without a label are known normal; rows from other
sources have no known truth and are left out.
"""

import math

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from activities.models import UserActivity
from simulator.models import AnomalyLabel
from store.models import EntityType, Order, Source

# The kind of a row known to be normal.
NORMAL = ""
# Max normal rows that ROC-AUC, PR-AUC and the precision-recall curve read; a
# larger run uses a weighted sample of them (see ``curve_sample``). At this
# size those metrics need an estimated 100 MB, whatever the number of rows.
MAX_CURVE_NORMAL_ROWS = 1_000_000
CURVE_SAMPLE_SEED = 0
# Most points kept from the precision-recall curve.
MAX_CURVE_POINTS = 200
# Edges of the score histogram: 20 bins over the 0-100 score.
HISTOGRAM_EDGES = np.linspace(0.0, 100.0, 21)

ENTITY_MODELS = {EntityType.ACTIVITY: UserActivity, EntityType.ORDER: Order}


def _number(value):
    """Return a JSON-safe float, or None for an undefined metric."""
    if value is None:
        return None
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def truth_for(entity_type, entity_ids):
    """Return the known truth of scored rows as a categorical Series of kind.

    The Series is indexed by the sorted entity ids whose truth is known:
    labelled rows with their anomaly kind, and unlabelled rows the simulator
    wrote as '' (normal). Categories keep it at one byte a row.
    """
    ids = np.asarray(entity_ids, dtype=np.int64)
    if len(ids) == 0:
        return pd.Series(pd.Categorical([], categories=[NORMAL]))
    low, high = int(ids.min()), int(ids.max())
    labels = pd.DataFrame.from_records(
        list(
            AnomalyLabel.objects.filter(
                entity_type=entity_type, entity_id__gte=low, entity_id__lte=high
            ).values_list("entity_id", "kind")
        ),
        columns=["entity_id", "kind"],
    )
    labels = labels.loc[labels["entity_id"].isin(ids)]
    if labels.empty:
        return pd.Series(pd.Categorical([], categories=[NORMAL]))
    # Rows from other sources are few, so read those and keep the rest.
    other = np.fromiter(
        ENTITY_MODELS[entity_type]
        .objects.filter(id__gte=low, id__lte=high)
        .exclude(source=Source.SIMULATOR)
        .order_by()
        .values_list("id", flat=True),
        dtype=np.int64,
    )
    label_ids = labels["entity_id"].to_numpy(dtype=np.int64)
    known = np.union1d(np.setdiff1d(ids, other), label_ids)
    categories = [NORMAL, *sorted(labels["kind"].unique())]
    codes = np.zeros(len(known), dtype=np.int8)
    codes[np.searchsorted(known, label_ids)] = pd.Categorical(
        labels["kind"], categories=categories
    ).codes
    return pd.Series(
        pd.Categorical.from_codes(codes, categories),
        index=pd.Index(known, name="id"),
    )


def _auc(y, scores, metric, weights):
    if len(np.unique(y)) < 2:
        return None
    return _number(metric(y, scores, sample_weight=weights))


def curve_sample(y, max_normal=None):
    """Return the positions and weights that the score-curve metrics read.

    Up to ``max_normal`` normal rows, every row counts once and the weights
    are None. Beyond that, every anomalous row and a fixed-seed uniform
    sample of ``max_normal`` normal rows are kept, and each sampled row
    weighs as many normal rows as it stands for, so the curves estimate
    those of all rows with bounded memory. ``max_normal`` defaults to
    ``MAX_CURVE_NORMAL_ROWS``.
    """
    max_normal = max_normal or MAX_CURVE_NORMAL_ROWS
    normal = np.flatnonzero(~y)
    if len(normal) <= max_normal:
        return np.arange(len(y)), None
    rng = np.random.default_rng(CURVE_SAMPLE_SEED)
    sampled_normal = rng.choice(normal, max_normal, replace=False)
    positions = np.union1d(np.flatnonzero(y), sampled_normal)
    weights = np.where(y[positions], 1.0, len(normal) / max_normal)
    return positions, weights


def classification_metrics(y, flagged, raw_scores):
    """Return precision, recall, F1, ROC-AUC and PR-AUC of one labelled set.

    Precision, recall and F1 count every row. ROC-AUC and PR-AUC read the
    rows ``curve_sample`` returns, which are all of them unless there are
    more than ``MAX_CURVE_NORMAL_ROWS`` normal rows.
    """
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, flagged, average="binary", zero_division=0
    )
    positions, weights = curve_sample(y)
    curve_y, curve_scores = y[positions], raw_scores[positions]
    return {
        "precision": _number(precision),
        "recall": _number(recall),
        "f1": _number(f1),
        "roc_auc": _auc(curve_y, curve_scores, roc_auc_score, weights),
        "pr_auc": _auc(curve_y, curve_scores, average_precision_score, weights),
    }


def metrics_for_scores(truth, scores):
    """Compute run metrics from the known truth and a score frame on the same ids.

    ``truth`` is a Series of kind by entity id, as ``truth_for`` returns it.
    ``scores`` has the columns ``raw_score``, ``score`` and ``is_anomaly``.
    Returns {} when no scored row is labelled.
    """
    return metrics_for_arrays(
        truth,
        scores.index.to_numpy(dtype=np.int64),
        scores["raw_score"].to_numpy(),
        scores["score"].to_numpy(),
        scores["is_anomaly"].to_numpy(dtype=bool),
    )


def metrics_for_arrays(truth, ids, raw_scores, scores, flagged):
    """Compute run metrics from the known truth and four arrays of equal length.

    The arrays give each scored row's entity id, raw score, 0-100 score and
    flag. Rows missing from ``truth`` are left out. Returns {} when no
    scored row is labelled.
    """
    if truth.empty or len(ids) == 0:
        return {}
    truth = truth.astype("category").sort_index()
    known_ids = truth.index.to_numpy(dtype=np.int64)
    positions = np.searchsorted(known_ids, ids).clip(max=len(known_ids) - 1)
    in_truth = known_ids[positions] == ids
    if not in_truth.any():
        return {}
    kinds = truth.cat.categories
    codes = truth.cat.codes.to_numpy()[positions[in_truth]]
    del positions
    y = codes != _code(kinds, NORMAL)
    if not y.any():
        return {}
    flagged = np.asarray(flagged, dtype=bool)[in_truth]
    raw = np.asarray(raw_scores)[in_truth]
    normalised = np.asarray(scores)[in_truth]
    del in_truth

    per_kind = {}
    for code in np.unique(codes[y]):
        subset = (codes == code) | ~y
        kind_metrics = classification_metrics(y[subset], flagged[subset], raw[subset])
        per_kind[str(kinds[code])] = {
            "count": int((codes == code).sum()),
            **kind_metrics,
        }

    positions, weights = curve_sample(y)
    precision, recall, _ = precision_recall_curve(
        y[positions], raw[positions], sample_weight=weights
    )
    if len(precision) > MAX_CURVE_POINTS:
        keep = np.unique(
            np.linspace(0, len(precision) - 1, MAX_CURVE_POINTS).round().astype(int)
        )
        precision, recall = precision[keep], recall[keep]

    return {
        "labelled_rows": int(len(y)),
        "positives": int(y.sum()),
        "overall": classification_metrics(y, flagged, raw),
        "per_kind": dict(sorted(per_kind.items())),
        "pr_curve": {
            "precision": [_number(value) for value in precision],
            "recall": [_number(value) for value in recall],
        },
        "score_histogram": {
            "edges": [float(edge) for edge in HISTOGRAM_EDGES],
            "normal": np.histogram(normalised[~y], HISTOGRAM_EDGES)[0].tolist(),
            "anomalous": np.histogram(normalised[y], HISTOGRAM_EDGES)[0].tolist(),
        },
    }


def _code(categories, kind):
    """Return the code of ``kind`` among ``categories``, or -2 when absent."""
    matches = np.flatnonzero(categories == kind)
    return int(matches[0]) if len(matches) else -2


def metrics_for_run(entity_type, ids, raw_scores, scores, flagged):
    """Return the metrics of a detection run's scores, or {} without labels."""
    return metrics_for_arrays(
        truth_for(entity_type, ids), ids, raw_scores, scores, flagged
    )
