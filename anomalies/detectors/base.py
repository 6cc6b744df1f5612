"""The detector interface, its shared scoring steps, and the registry by name."""

import numpy as np
import pandas as pd

# Severity bands on the 0-100 normalised score (the share of training rows
# that scored lower): high from 99, medium from 97, low below.
SEVERITY_BANDS = (("high", 99.0), ("medium", 97.0), ("low", 0.0))
# Features listed in an explanation, most influential first.
EXPLANATION_SIZE = 5
# Percentiles of the training values reported as a feature's typical range.
TYPICAL_PERCENTILES = (5.0, 95.0)
# Floor of a spread, relative to the centre's size, so that a feature that
# never varied in training turns any change into a large finite deviation.
MIN_RELATIVE_SPREAD = 1e-6
# Largest absolute deviation reported, which keeps scores finite and JSON-safe.
MAX_DEVIATION = 1e6

REGISTRY = {}


class DetectorError(Exception):
    """A detector cannot fit or score the data it was given."""


def register(cls):
    """Add a detector class to the registry under its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def get_detector_class(name):
    """Return the registered detector class called ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise DetectorError(
            f"Unknown detector {name!r}: use one of {', '.join(sorted(REGISTRY))}."
        ) from None


def severity_for(scores):
    """Map normalised 0-100 scores to severity band names."""
    scores = np.asarray(scores, dtype=float)
    result = np.full(len(scores), SEVERITY_BANDS[-1][0], dtype=object)
    for name, lower in reversed(SEVERITY_BANDS[:-1]):
        result[scores >= lower] = name
    return result


def safe_spread(spread, centre):
    """Replace zero or tiny spreads by a floor tied to the centre's size."""
    spread = np.asarray(spread, dtype=float)
    floor = MIN_RELATIVE_SPREAD * np.maximum(1.0, np.abs(np.asarray(centre, float)))
    return np.where(np.isfinite(spread) & (spread > floor), spread, floor)


class Detector:
    """Base class: fit on a feature frame, then score, flag and explain rows.

    Subclasses implement ``_fit(X)`` and ``_raw_scores(X)`` on float arrays,
    where a higher raw score means more anomalous, and set ``threshold_``.

    Attributes
    ----------
    feature_names_ : list of str
        Columns seen in training, in order; scoring checks them.
    training_scores_ : ndarray
        Sorted raw scores of the training rows, for the 0-100 normalisation.
    threshold_ : float
        Raw score above which a row is flagged.
    centre_, spread_ : ndarray
        Per-feature median and robust spread of the training data; the spread
        is at least the feature's ``FeatureSpec.min_spread``.
    directions_ : list
        Per-feature side on which a value is suspicious ("high", "low",
        "both", or None for context features), from ``FeatureSpec``.
    typical_low_, typical_high_ : ndarray
        Per-feature 5th and 95th percentiles of the training data.
    """

    name = ""
    # Constructor argument: DetectorSettings field that supplies it.
    settings_fields = {}
    # Fewest training rows a detector accepts.
    min_training_rows = 20

    def __init__(self, **parameters):
        self.parameters = parameters

    @classmethod
    def from_settings(cls, parameters):
        """Build an unfitted detector from merged DetectorSettings values."""
        return cls(
            **{
                argument: parameters[field]
                for argument, field in cls.settings_fields.items()
            }
        )

    def apply_detection_parameters(self, parameters):
        """Adjust the flagging threshold to detection-time parameters, without refitting."""

    def fit(self, features):
        """Learn the detector from a feature frame and return ``self``."""
        if len(features) < self.min_training_rows:
            raise DetectorError(
                f"Too few rows to train {self.name}: {len(features)} given, at least "
                f"{self.min_training_rows} needed. Add data or raise the limit."
            )
        X = self._matrix(features, check=False)
        # Imported here: the features package loads Django models, and tests
        # of pages replace it in sys.modules before the detectors are imported.
        from ..features import feature_specs

        self.feature_names_ = list(features.columns)
        specs = feature_specs(self.feature_names_)
        self.directions_ = [spec.direction for spec in specs]
        self.min_spreads_ = np.array([spec.min_spread for spec in specs], dtype=float)
        self.centre_ = np.median(X, axis=0)
        q25, q75 = np.percentile(X, [25, 75], axis=0)
        spread = (q75 - q25) / 1.349
        spread = np.where(spread > 0, spread, X.std(axis=0))
        self.spread_ = np.maximum(safe_spread(spread, self.centre_), self.min_spreads_)
        self.typical_low_, self.typical_high_ = np.percentile(
            X, TYPICAL_PERCENTILES, axis=0
        )
        self._fit(X)
        fit_scores = self.__dict__.pop("_fit_scores", None)
        if fit_scores is None:
            fit_scores = self._raw_scores(X)
        self.training_scores_ = np.sort(fit_scores)
        return self

    def score(self, features):
        """Score rows: raw score, 0-100 normalised score, flag and severity.

        Returns a DataFrame on the features' index with the columns
        ``raw_score``, ``score``, ``is_anomaly`` and ``severity``.
        """
        X = self._matrix(features)
        raw = self._raw_scores(X)
        normalised = self.normalise(raw)
        return pd.DataFrame(
            {
                "raw_score": raw,
                "score": normalised,
                "is_anomaly": raw > self.threshold_,
                "severity": severity_for(normalised),
            },
            index=features.index,
        )

    def normalise(self, raw):
        """Rank raw scores against the training scores, as 0-100."""
        ranks = np.searchsorted(self.training_scores_, raw, side="right")
        return 100.0 * ranks / len(self.training_scores_)

    def contributions(self, X):
        """Return each feature's influence on each row; larger means more unusual."""
        return np.minimum(np.abs(X - self.centre_) / self.spread_, MAX_DEVIATION)

    def directed(self, z):
        """Keep the side of signed deviations ``z`` that each feature's spec flags.

        A "high" feature keeps positive z, a "low" one negative z (as a
        positive number), "both" keeps |z|, and a context feature gives 0.
        """
        result = np.zeros_like(z)
        for column, direction in enumerate(self.directions_):
            if direction == "high":
                result[:, column] = np.maximum(z[:, column], 0.0)
            elif direction == "low":
                result[:, column] = np.maximum(-z[:, column], 0.0)
            elif direction == "both":
                result[:, column] = np.abs(z[:, column])
        return result

    def explain(self, features, size=EXPLANATION_SIZE):
        """List, per row, the features that pushed the score, most influential first."""
        X = self._matrix(features)
        influence = self.contributions(X)
        size = min(size, X.shape[1])
        top = np.argsort(-influence, axis=1, kind="stable")[:, :size]
        explanations = []
        for row, columns in enumerate(top):
            explanations.append(
                [
                    {
                        "feature": self.feature_names_[column],
                        "value": float(X[row, column]),
                        "typical_low": float(self.typical_low_[column]),
                        "typical_high": float(self.typical_high_[column]),
                        "contribution": round(float(influence[row, column]), 4),
                    }
                    for column in columns
                ]
            )
        return explanations

    def _matrix(self, features, check=True):
        if check and list(features.columns) != self.feature_names_:
            raise DetectorError(
                f"Feature columns differ from the ones {self.name} was trained on; "
                "retrain the detector."
            )
        X = features.to_numpy(dtype=float, copy=True)
        if not np.isfinite(X).all():
            X = np.nan_to_num(X, nan=0.0, posinf=MAX_DEVIATION, neginf=-MAX_DEVIATION)
        return X

    def _fit(self, X):
        raise NotImplementedError

    def _raw_scores(self, X):
        raise NotImplementedError
