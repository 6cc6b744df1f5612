import numpy as np
import pandas as pd
import pytest

from anomalies.detectors import (
    DETECTOR_NAMES,
    DetectorError,
    get_detector_class,
    severity_for,
)
from anomalies.detectors.zscore import ZScoreDetector
from anomalies.features import feature_names

PARAMETERS = {
    "statistical_zscore": {"z_threshold": 4.0},
    "isolation_forest": {"contamination": 0.02, "n_estimators": 200},
    "dbscan": {"min_samples": 5},
}


def normal_frame(entity_type, rows=400, seed=0):
    """Build a frame of plausible feature values with small noise."""
    rng = np.random.default_rng(seed)
    columns = feature_names(entity_type)
    data = rng.normal(5.0, 1.0, size=(rows, len(columns)))
    return pd.DataFrame(data, columns=columns, index=pd.RangeIndex(1, rows + 1))


def with_outlier(frame, column, value):
    """Append row 999999 with ``column`` at ``value`` and four more columns at 40.

    Isolation Forest splits on a random feature, so one extreme feature among
    over 30 noisy ones isolates a row only weakly; real incidents move several.
    """
    outlier = frame.iloc[[0]].copy()
    outlier.index = [999_999]
    others = [name for name in frame.columns if name != column][-4:]
    outlier[others] = 40.0
    outlier[column] = value
    return pd.concat([frame.iloc[1:20], outlier])


@pytest.mark.parametrize("entity_type", ["activity", "order"])
@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detector_flags_injected_outlier(name, entity_type):
    column = feature_names(entity_type)[3]
    train = normal_frame(entity_type)
    # History holds a few incidents like the probe, as real history does;
    # Isolation Forest cannot extrapolate past the training range otherwise.
    train.iloc[:4, train.columns.get_loc(column)] = 80.0
    detector = get_detector_class(name)(**PARAMETERS[name]).fit(train)
    scores = detector.score(with_outlier(normal_frame(entity_type, seed=1), column, 80))
    assert bool(scores.loc[999_999, "is_anomaly"])
    assert scores.loc[999_999, "score"] >= 99.0
    assert scores.loc[999_999, "severity"] == "high"


@pytest.mark.parametrize("entity_type", ["activity", "order"])
@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detector_explains_the_pushing_feature(name, entity_type):
    column = feature_names(entity_type)[3]
    detector = get_detector_class(name)(**PARAMETERS[name]).fit(
        normal_frame(entity_type)
    )
    frame = with_outlier(normal_frame(entity_type, seed=1), column, 80)
    explanation = detector.explain(frame.loc[[999_999]])[0]
    assert explanation[0]["feature"] == column
    assert explanation[0]["value"] == 80
    assert explanation[0]["typical_low"] < 5 < explanation[0]["typical_high"]
    assert len(explanation) == 5
    contributions = [item["contribution"] for item in explanation]
    assert contributions == sorted(contributions, reverse=True)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detector_keeps_normal_rows_mostly_unflagged(name):
    detector = get_detector_class(name)(**PARAMETERS[name]).fit(normal_frame("order"))
    scores = detector.score(normal_frame("order", seed=2))
    assert scores["is_anomaly"].mean() < 0.1


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detector_rejects_too_few_rows(name):
    with pytest.raises(DetectorError, match="Too few rows"):
        get_detector_class(name)(**PARAMETERS[name]).fit(normal_frame("order", rows=5))


@pytest.mark.parametrize("robust", [False, True])
def test_zscore_constant_column_flags_change(robust):
    train = normal_frame("order")
    train["first_order"] = 0.0
    detector = ZScoreDetector(z_threshold=3.0, robust=robust).fit(train)
    frame = train.iloc[:3].copy()
    frame.iloc[1, frame.columns.get_loc("first_order")] = 1.0
    scores = detector.score(frame)
    assert scores["is_anomaly"].tolist() == [False, True, False]
    assert np.isfinite(scores["raw_score"]).all()


def test_zscore_robust_ignores_training_outliers():
    train = normal_frame("order")
    train.iloc[:10, 0] = 1e6
    plain = ZScoreDetector(z_threshold=3.0).fit(train)
    robust = ZScoreDetector(z_threshold=3.0, robust=True).fit(train)
    probe = normal_frame("order", seed=4).iloc[:5]
    probe.loc[1, "total"] = 40.0
    assert not bool(plain.score(probe).loc[1, "is_anomaly"])
    assert bool(robust.score(probe).loc[1, "is_anomaly"])


def test_iforest_threshold_matches_contamination():
    detector = get_detector_class("isolation_forest")(
        contamination=0.1, n_estimators=50
    ).fit(normal_frame("activity"))
    flagged_share = (detector.training_scores_ > detector.threshold_).mean()
    assert flagged_share == pytest.approx(0.1, abs=0.01)


def test_dbscan_picks_eps_from_k_distance():
    detector = get_detector_class("dbscan")(min_samples=5).fit(normal_frame("order"))
    assert detector.eps_ > 0
    assert len(detector.core_samples_) > 0


def test_dbscan_samples_bounded_rows():
    detector = get_detector_class("dbscan")(min_samples=3, max_train_rows=100).fit(
        normal_frame("order", rows=400)
    )
    assert len(detector.core_samples_) <= 100


def test_dbscan_without_core_samples_explains_fix():
    with pytest.raises(DetectorError, match="raise dbscan_eps"):
        get_detector_class("dbscan")(eps=1e-6, min_samples=5).fit(normal_frame("order"))


def test_score_rejects_other_feature_columns():
    detector = ZScoreDetector().fit(normal_frame("order"))
    with pytest.raises(DetectorError, match="retrain"):
        detector.score(normal_frame("activity"))


@pytest.mark.parametrize(
    ("score", "severity"),
    [(100.0, "high"), (99.0, "high"), (98.9, "medium"), (97.0, "medium"), (50, "low")],
)
def test_severity_bands(score, severity):
    assert severity_for([score])[0] == severity


def test_unknown_detector_lists_names():
    with pytest.raises(DetectorError, match="use one of dbscan"):
        get_detector_class("kmeans")
