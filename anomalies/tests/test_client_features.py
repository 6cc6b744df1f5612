import numpy as np
import pandas as pd
import pytest

from activities.models import UserActivity
from anomalies.features import load_features
from anomalies.features.activity import RAW_COLUMNS, build_activity_features
from anomalies.features.client import (
    FEATURE_NAMES,
    build_client_features,
    window_start_times,
)

SCANNER = "192.0.2.10"
BROWSER = "192.0.2.20"
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1)"
HUMAN_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0"

# (time, ip, agent, status, path, method)
REQUESTS = [
    ("10:00:00", SCANNER, "curl/8.0", 404, "/wp-login.php", "GET"),
    ("10:00:30", SCANNER, "curl/8.0", 404, "/.env", "GET"),
    ("10:00:30", SCANNER, "", 400, None, None),
    ("10:02:00", SCANNER, "curl/8.0", 200, "/", "GET"),
    ("10:01:00", BROWSER, HUMAN_AGENT, 200, "/", "GET"),
    ("10:31:00", BROWSER, HUMAN_AGENT, 302, "/login", "POST"),
    ("11:30:00", BROWSER, BOT_AGENT, 200, "/", "GET"),
]


def requests_frame(rows=REQUESTS):
    return pd.DataFrame(
        {
            "timestamp": [f"2024-03-01T{row[0]}Z" for row in rows],
            "ip_address": [row[1] for row in rows],
            "user_agent": [row[2] for row in rows],
            "status": [row[3] for row in rows],
            "path": [row[4] for row in rows],
            "method": [row[5] for row in rows],
        },
        index=[100 + i for i in range(len(rows))],
    )


def automated_of(frame):
    return frame["user_agent"].str.contains("bot|curl") | frame["user_agent"].eq("")


@pytest.fixture
def client_features():
    frame = requests_frame()
    return build_client_features(frame, automated_of(frame).to_numpy())


def test_columns_in_declared_order(client_features):
    assert list(client_features.columns) == FEATURE_NAMES


def test_rows_keep_original_index(client_features):
    assert list(client_features.index) == [100, 101, 102, 103, 104, 105, 106]


@pytest.mark.parametrize(
    ("row", "expected"), [(100, 1), (101, 3), (102, 3), (103, 4), (105, 2), (106, 2)]
)
def test_requests_in_window(client_features, row, expected):
    assert client_features.loc[row, "client_requests_1h"] == expected


def test_requests_per_minute_uses_window_span(client_features):
    # Four requests over the two minutes since the client's first one.
    assert client_features.loc[103, "client_requests_per_minute"] == pytest.approx(2.0)


def test_requests_per_minute_floors_span_at_one_minute(client_features):
    # Three requests 30 seconds after the first: counted over one minute.
    assert client_features.loc[101, "client_requests_per_minute"] == pytest.approx(3.0)


def test_window_drops_old_requests(client_features):
    # At 11:30 the 10:01 request is out of the hour, so 10:31 and 11:30 remain.
    assert client_features.loc[106, "client_requests_per_minute"] == pytest.approx(
        2 / 59
    )


def test_4xx_share(client_features):
    assert client_features.loc[103, "client_status_4xx_share"] == pytest.approx(3 / 4)


def test_distinct_paths_ignore_missing_path(client_features):
    assert client_features.loc[103, "client_distinct_paths_1h"] == 3


def test_login_path_share(client_features):
    assert client_features.loc[105, "client_login_path_share"] == pytest.approx(1 / 2)


def test_probe_path_share(client_features):
    assert client_features.loc[103, "client_probe_path_share"] == pytest.approx(2 / 4)


def test_malformed_request_share(client_features):
    assert client_features.loc[103, "client_malformed_request_share"] == 0.25


def test_automated_agent_share(client_features):
    assert client_features.loc[106, "client_automated_agent_share"] == 0.5


def test_distinct_user_agents_skip_empty(client_features):
    assert client_features.loc[103, "client_distinct_user_agents_1h"] == 1


def test_later_rows_do_not_change_earlier(client_features):
    frame = requests_frame(REQUESTS[:3])
    early = build_client_features(frame, automated_of(frame).to_numpy())
    pd.testing.assert_frame_equal(early, client_features.loc[[100, 101, 102]])


def test_events_without_details_get_neutral_values():
    frame = requests_frame().drop(columns=["status", "path", "method"])
    features = build_client_features(frame, np.zeros(len(frame), dtype=bool))
    detail_columns = [
        "client_status_4xx_share",
        "client_distinct_paths_1h",
        "client_login_path_share",
        "client_probe_path_share",
        "client_malformed_request_share",
    ]
    assert (features[detail_columns] == 0).all().all()


def test_events_without_details_keep_rates():
    frame = requests_frame().drop(columns=["status", "path", "method"])
    features = build_client_features(frame, np.zeros(len(frame), dtype=bool))
    assert features.loc[103, "client_requests_1h"] == 4


def test_window_start_times_per_group():
    groups = np.array([0, 0, 1, 0])
    times = np.array([10, 50, 20, 120])
    assert list(window_start_times(groups, times, 100)) == [10, 10, 20, 50]


def test_activity_features_include_client_columns():
    frame = requests_frame().reset_index(drop=True)
    raw = frame.assign(
        id=np.arange(1, len(frame) + 1),
        action_type="view_page",
        customer_id=None,
        session_id="",
        order_total=None,
        quantity=None,
        attempted_email=None,
    )[[*RAW_COLUMNS, "status", "path", "method"]]
    features = build_activity_features(raw)
    assert features.loc[4, "client_requests_1h"] == 4


@pytest.mark.django_db
def test_load_features_reads_details():
    base = pd.Timestamp("2024-03-01T10:00:00Z")
    UserActivity.objects.bulk_create(
        UserActivity(
            timestamp=base + pd.Timedelta(seconds=10 * i),
            action_type="view_page",
            ip_address=SCANNER,
            user_agent="curl/8.0",
            details={"status": status, "path": "/.git/config", "method": "GET"},
        )
        for i, status in enumerate([404, 404, 200])
    )
    features, _times = load_features("activity")
    assert features["client_status_4xx_share"].iloc[-1] == pytest.approx(2 / 3)
