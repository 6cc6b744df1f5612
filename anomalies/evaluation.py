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
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from activities.models import UserActivity
from simulator.models import AnomalyLabel
from store.models import EntityType, Order, Source

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
    """Return the known truth of scored rows as a Series of kind ('' = normal).

    The Series is indexed by the entity ids whose truth is known: labelled rows
    with their anomaly kind, and unlabelled rows the simulator wrote as ''.
    """
    ids = np.asarray(entity_ids, dtype=np.int64)
    if len(ids) == 0:
        return pd.Series(dtype=object)
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
        return pd.Series(dtype=object)
    # Rows from other sources are few, so read those and keep the rest.
    other = np.fromiter(
        ENTITY_MODELS[entity_type]
        .objects.filter(id__gte=low, id__lte=high)
        .exclude(source=Source.SIMULATOR)
        .order_by()
        .values_list("id", flat=True),
        dtype=np.int64,
    )
    simulated = np.setdiff1d(ids, other)
    known = np.union1d(simulated, labels["entity_id"])
    truth = pd.Series("", index=pd.Index(known, name="id"), dtype=object)
    truth.loc[labels["entity_id"].to_numpy()] = labels["kind"].to_numpy()
    return truth


def _auc(y, scores, metric):
    if len(np.unique(y)) < 2:
        return None
    return _number(metric(y, scores))


def classification_metrics(y, flagged, raw_scores):
    """Return precision, recall, F1, ROC-AUC and PR-AUC of one labelled set."""
    return {
        "precision": _number(precision_score(y, flagged, zero_division=0)),
        "recall": _number(recall_score(y, flagged, zero_division=0)),
        "f1": _number(f1_score(y, flagged, zero_division=0)),
        "roc_auc": _auc(y, raw_scores, roc_auc_score),
        "pr_auc": _auc(y, raw_scores, average_precision_score),
    }


def metrics_for_scores(truth, scores):
    """Compute run metrics from the known truth and a score frame on the same ids.

    ``scores`` has the columns ``raw_score``, ``score`` and ``is_anomaly``.
    Returns {} when no scored row is labelled.
    """
    scores = scores.loc[scores.index.isin(truth.index)]
    if scores.empty:
        return {}
    kinds = truth.reindex(scores.index).to_numpy()
    y = kinds != ""
    if not y.any():
        return {}
    flagged = scores["is_anomaly"].to_numpy(dtype=bool)
    raw = scores["raw_score"].to_numpy(dtype=float)
    normalised = scores["score"].to_numpy(dtype=float)

    per_kind = {}
    for kind in sorted(set(kinds[y])):
        subset = (kinds == kind) | ~y
        kind_metrics = classification_metrics(y[subset], flagged[subset], raw[subset])
        per_kind[kind] = {"count": int((kinds == kind).sum()), **kind_metrics}

    precision, recall, _ = precision_recall_curve(y, raw)
    if len(precision) > MAX_CURVE_POINTS:
        keep = np.unique(
            np.linspace(0, len(precision) - 1, MAX_CURVE_POINTS).round().astype(int)
        )
        precision, recall = precision[keep], recall[keep]

    return {
        "labelled_rows": int(len(y)),
        "positives": int(y.sum()),
        "overall": classification_metrics(y, flagged, raw),
        "per_kind": per_kind,
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


def metrics_for_run(entity_type, scores):
    """Return the metrics of a detection run's scores, or {} without labels."""
    return metrics_for_scores(truth_for(entity_type, scores.index), scores)
