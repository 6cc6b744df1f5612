"""Isolation Forest detector with a threshold learned from its training scores."""

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from .base import Detector, register


@register
class IsolationForestDetector(Detector):
    """Score rows by how quickly random trees isolate them.

    Parameters
    ----------
    contamination : float, default 0.05
        Share of training rows that score above the threshold; the threshold is
        the matching quantile of the training scores, never ``'auto'``.
    n_estimators : int, default 200
        Trees in the forest.
    random_state : int, default 0
        Seed of the forest, so that retraining on the same data is repeatable.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        Robust scaling followed by the forest. The features arrive numeric,
        with action types already one-hot encoded by the feature builder.
    """

    name = "isolation_forest"
    settings_fields = {
        "contamination": "iforest_contamination",
        "n_estimators": "iforest_n_estimators",
    }

    def __init__(self, contamination=0.05, n_estimators=200, random_state=0, **extra):
        super().__init__(
            contamination=contamination,
            n_estimators=n_estimators,
            random_state=random_state,
            **extra,
        )
        self.contamination = float(contamination)
        self.n_estimators = int(n_estimators)
        self.random_state = int(random_state)

    def _fit(self, X):
        self.pipeline_ = Pipeline(
            [
                ("scale", RobustScaler()),
                (
                    "forest",
                    IsolationForest(
                        n_estimators=self.n_estimators,
                        contamination=self.contamination,
                        random_state=self.random_state,
                        n_jobs=1,
                    ),
                ),
            ]
        )
        self.pipeline_.fit(X)
        training = self._raw_scores(X)
        self.threshold_ = float(np.quantile(training, 1.0 - self.contamination))
        # Scoring every training row is the slow part; fit() reuses these.
        self._fit_scores = training

    def apply_detection_parameters(self, parameters):
        # The stored training scores give the quantile without refitting.
        self.contamination = float(parameters["iforest_contamination"])
        self.threshold_ = float(
            np.quantile(self.training_scores_, 1.0 - self.contamination)
        )

    def _raw_scores(self, X):
        # score_samples is higher for normal rows; negate so higher is anomalous.
        return -self.pipeline_.score_samples(X)
