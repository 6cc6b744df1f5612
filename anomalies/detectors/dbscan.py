"""DBSCAN detector: a new row is normal when it lies within eps of a core sample."""

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from .base import Detector, DetectorError, register

# Rows scored per nearest-neighbour query, which bounds the distance matrices.
SCORING_CHUNK_ROWS = 20_000


def knee_of_k_distances(X, k):
    """Pick eps at the knee of the sorted k-distance curve.

    The knee is the point farthest from the straight line joining the curve's
    ends, the usual "elbow" heuristic for DBSCAN's eps.
    """
    neighbours = NearestNeighbors(n_neighbors=min(k + 1, len(X))).fit(X)
    distances, _ = neighbours.kneighbors(X)
    curve = np.sort(distances[:, -1])
    if curve[-1] <= curve[0]:
        return float(max(curve[-1], 1e-3))
    x = np.linspace(0.0, 1.0, len(curve))
    y = (curve - curve[0]) / (curve[-1] - curve[0])
    knee = int(np.argmax(x - y))
    return float(max(curve[knee], 1e-3))


@register
class DBSCANDetector(Detector):
    """Cluster a bounded sample of training rows and keep the core samples.

    Parameters
    ----------
    eps : float or None, default None
        Neighbourhood radius in standardised feature space. None picks it from
        the k-distance curve of the training sample.
    min_samples : int, default 5
        Neighbours a core sample needs within eps.
    max_train_rows : int, default 20000
        Rows sampled for fitting; DBSCAN's memory grows with their square in
        dense regions, so this bounds it.
    random_state : int, default 0
        Seed of the training sample.

    Attributes
    ----------
    eps_ : float
        The radius used.
    core_samples_ : ndarray
        Standardised core samples; scoring measures the distance to them.

    The raw score is the distance to the nearest core sample divided by eps,
    so ``threshold_`` is 1.0.
    """

    name = "dbscan"
    settings_fields = {
        "eps": "dbscan_eps",
        "min_samples": "dbscan_min_samples",
        "max_train_rows": "dbscan_max_train_rows",
    }

    def __init__(
        self, eps=None, min_samples=5, max_train_rows=20_000, random_state=0, **extra
    ):
        super().__init__(
            eps=eps,
            min_samples=min_samples,
            max_train_rows=max_train_rows,
            random_state=random_state,
            **extra,
        )
        self.eps = None if eps is None else float(eps)
        self.min_samples = int(min_samples)
        self.max_train_rows = int(max_train_rows)
        self.random_state = int(random_state)

    def _fit(self, X):
        if len(X) > self.max_train_rows:
            rng = np.random.default_rng(self.random_state)
            X = X[rng.choice(len(X), self.max_train_rows, replace=False)]
        self.scaler_ = StandardScaler().fit(X)
        scaled = self.scaler_.transform(X)
        self.eps_ = self.eps or knee_of_k_distances(scaled, self.min_samples)
        clustering = DBSCAN(eps=self.eps_, min_samples=self.min_samples).fit(scaled)
        if len(clustering.core_sample_indices_) == 0:
            raise DetectorError(
                f"DBSCAN found no core samples with eps={self.eps_:.4g} and "
                f"min_samples={self.min_samples}; raise dbscan_eps or lower "
                "dbscan_min_samples and retrain."
            )
        self.core_samples_ = clustering.components_
        self.neighbours_ = NearestNeighbors(n_neighbors=1).fit(self.core_samples_)
        self.threshold_ = 1.0

    def apply_detection_parameters(self, parameters):
        # A new eps moves the "within eps of a core sample" line; min_samples
        # shaped the core samples in training and needs a retrain to change.
        if parameters.get("dbscan_eps") is not None:
            self.threshold_ = float(parameters["dbscan_eps"]) / self.eps_

    def _raw_scores(self, X):
        scores = np.empty(len(X))
        for begin in range(0, len(X), SCORING_CHUNK_ROWS):
            chunk = self.scaler_.transform(X[begin : begin + SCORING_CHUNK_ROWS])
            distances, _ = self.neighbours_.kneighbors(chunk)
            scores[begin : begin + len(chunk)] = distances[:, 0] / self.eps_
        return scores
