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
from anomalies.features import FEATURE_SPECS, feature_names

PARAMETERS = {
    "statistical_zscore": {"z_threshold": 4.0},
    "isolation_forest": {"contamination": 0.02, "n_estimators": 200},
    "dbscan": {"min_samples": 5},
}


def scored_column(entity_type):
    """Return the first feature that the Z-score detector reads on its high side."""
    return next(
        name
        for name in feature_names(entity_type)
        if FEATURE_SPECS[name].direction in ("high", "both")
    )


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
    column = scored_column(entity_type)
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
    column = scored_column(entity_type)
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
    train = normal_frame("activity")
    train["user_agent_automated"] = 0.0
    detector = ZScoreDetector(z_threshold=3.0, robust=robust).fit(train)
    frame = train.iloc[:3].copy()
    frame.iloc[1, frame.columns.get_loc("user_agent_automated")] = 1.0
    scores = detector.score(frame)
    assert scores["is_anomaly"].tolist() == [False, True, False]
    assert np.isfinite(scores["raw_score"]).all()


def test_zscore_robust_ignores_training_outliers():
    train = normal_frame("order")
    train["log_units"] = train["log_units"].where(train.index > 10, 1e6)
    plain = ZScoreDetector(z_threshold=3.0, robust=False).fit(train)
    robust = ZScoreDetector(z_threshold=3.0, robust=True).fit(train)
    probe = normal_frame("order", seed=4).iloc[:5]
    probe.loc[1, "log_units"] = 40.0
    assert not bool(plain.score(probe).loc[1, "is_anomaly"])
    assert bool(robust.score(probe).loc[1, "is_anomaly"])


@pytest.mark.parametrize(
    ("column", "value", "flagged"),
    [
        # A count is suspicious only when high: far below the centre is fine.
        ("ip_failed_logins_15m", -40.0, False),
        ("ip_failed_logins_15m", 40.0, True),
        # A short gap is suspicious, a long one is not.
        ("ip_gap_log10", 40.0, False),
        ("ip_gap_log10", -40.0, True),
        # Context features never flag a row on their own.
        ("hour", 40.0, False),
        ("action_login", 40.0, False),
    ],
)
def test_zscore_reads_feature_direction(column, value, flagged):
    detector = ZScoreDetector(z_threshold=3.0).fit(normal_frame("activity"))
    probe = normal_frame("activity", seed=5).iloc[:1]
    probe[column] = value
    assert bool(detector.score(probe)["is_anomaly"].iloc[0]) is flagged


@pytest.mark.parametrize(
    ("count", "flagged"), [(1.0, False), (3.0, False), (4.0, True)]
)
def test_zscore_count_spread_at_least_one(count, flagged):
    # Failed logins are almost always 0, so MAD and the mean deviation are
    # tiny; the spread floor of one login keeps a single typo unflagged.
    train = normal_frame("activity")
    train["ip_failed_logins_15m"] = np.where(train.index % 100 == 0, 1.0, 0.0)
    detector = ZScoreDetector(z_threshold=3.0).fit(train)
    probe = train.loc[[1]].copy()
    probe["ip_failed_logins_15m"] = count
    assert bool(detector.score(probe)["is_anomaly"].iloc[0]) is flagged


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
