"""Per-feature Z-score detector, with an optional robust (median/MAD) variant."""

import numpy as np

from .base import MAX_DEVIATION, Detector, register, safe_spread

# Scale that makes the MAD estimate the standard deviation of normal data.
MAD_TO_STD = 1.4826
# Scale that makes the mean absolute deviation estimate it, used when MAD is 0.
MEAN_AD_TO_STD = 1.253314


@register
class ZScoreDetector(Detector):
    """Flag a row when any feature lies more than ``z_threshold`` spreads from centre.

    Only the side of each feature that its ``FeatureSpec`` calls suspicious
    counts (a burst raises counts and shortens gaps, never the reverse), and
    context features such as the hour or the action type never flag a row on
    their own. A spread is never smaller than the feature's ``min_spread``.

    Parameters
    ----------
    z_threshold : float, default 3.0
        Absolute z above which a feature flags its row.
    robust : bool, default False
        Use the median and MAD (falling back to the mean absolute deviation when
        MAD is 0) instead of the mean and standard deviation.

    Attributes
    ----------
    mean_, std_ : ndarray
        Per-feature centre and spread used for z. A spread of 0 is replaced by
        a small floor, so a feature that never varied in training flags any row
        where it changes instead of dividing by zero or being ignored.

    The raw score is the largest |z| of the row, so ``threshold_`` is
    ``z_threshold`` itself.
    """

    name = "statistical_zscore"
    # Constructor argument: DetectorSettings field that supplies it.
    settings_fields = {"z_threshold": "z_threshold", "robust": "zscore_robust"}

    def __init__(self, z_threshold=3.0, robust=False, **parameters):
        super().__init__(z_threshold=z_threshold, robust=robust, **parameters)
        self.z_threshold = float(z_threshold)
        self.robust = bool(robust)

    def _fit(self, X):
        if self.robust:
            centre = np.median(X, axis=0)
            spread = MAD_TO_STD * np.median(np.abs(X - centre), axis=0)
            mean_ad = MEAN_AD_TO_STD * np.mean(np.abs(X - X.mean(axis=0)), axis=0)
            spread = np.where(spread > 0, spread, mean_ad)
        else:
            centre = X.mean(axis=0)
            spread = X.std(axis=0)
        self.mean_ = centre
        self.std_ = np.maximum(safe_spread(spread, centre), self.min_spreads_)
        self.threshold_ = self.z_threshold

    def apply_detection_parameters(self, parameters):
        self.z_threshold = float(parameters["z_threshold"])
        self.threshold_ = self.z_threshold

    def z_scores(self, X):
        """Return the capped z of every feature of every row, on its suspicious side."""
        z = np.clip((X - self.mean_) / self.std_, -MAX_DEVIATION, MAX_DEVIATION)
        return self.directed(z)

    def _raw_scores(self, X):
        return self.z_scores(X).max(axis=1)

    def contributions(self, X):
        return self.z_scores(X)
