import numpy as np
import pandas as pd
import pytest

from anomalies.features import feature_names, load_features
from anomalies.features.activity import RAW_COLUMNS, build_activity_features
from anomalies.features.common import sum_at_or_before, window_count, window_distinct
from anomalies.features.order import build_order_features

ACTIVITY_ROWS = [
    # id, timestamp, action, customer, session, ip, agent, total, quantity, email
    (
        10,
        "2024-01-01T10:00:00Z",
        "failed_login",
        None,
        "s1",
        "1.1.1.1",
        "curl/8",
        None,
        None,
        "a@x",
    ),
    (
        11,
        "2024-01-01T10:00:00Z",
        "failed_login",
        None,
        "s1",
        "1.1.1.1",
        "curl/8",
        None,
        None,
        "b@x",
    ),
    (
        12,
        "2024-01-01T10:03:00Z",
        "failed_login",
        None,
        "s1",
        "1.1.1.1",
        "curl/8",
        None,
        None,
        "a@x",
    ),
    (
        13,
        "2024-01-01T10:20:00Z",
        "login",
        7,
        "",
        "1.1.1.1",
        "Mozilla/5.0",
        None,
        None,
        "a@x",
    ),
    (
        14,
        "2024-01-01T11:10:00+01:00",
        "purchase",
        7,
        None,
        None,
        "Mozilla/5.0",
        "99.5",
        3,
        None,
    ),
    (
        15,
        "2024-01-01T10:30:00Z",
        "view_page",
        7,
        "s2",
        "2.2.2.2",
        "Mozilla/5.0",
        None,
        None,
        None,
    ),
]


@pytest.fixture
def activity_raw():
    frame = pd.DataFrame(ACTIVITY_ROWS, columns=RAW_COLUMNS)
    # Shuffle rows so that any assignment by position lands on the wrong row.
    return frame.iloc[[4, 2, 5, 0, 3, 1]]


@pytest.fixture
def activity_features(activity_raw):
    return build_activity_features(activity_raw)


def test_activity_features_indexed_by_event_id(activity_features):
    assert sorted(activity_features.index) == [10, 11, 12, 13, 14, 15]


def test_activity_columns_match_feature_names(activity_features):
    assert list(activity_features.columns) == feature_names("activity")


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        # 10 and 11 share 10:00:00, so each sees both; 12 sees 10, 11, 12 within 5 min.
        (10, 2),
        (11, 2),
        (12, 3),
        # 13 at 10:20 is 17 minutes after 12: alone in its 5-minute window.
        (13, 1),
    ],
)
def test_ip_events_5m_counts_look_back(activity_features, event_id, expected):
    assert activity_features.loc[event_id, "ip_events_5m"] == expected


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [(10, 2), (11, 2), (12, 3), (13, 0)],
)
def test_failed_logins_15m(activity_features, event_id, expected):
    # 13 at 10:20 looks back to 10:05, after the last failed login at 10:03.
    assert activity_features.loc[event_id, "ip_failed_logins_15m"] == expected


@pytest.mark.parametrize(
    ("event_id", "expected"),
    # At 10:03 the IP tried a@x twice and b@x once: two distinct e-mails.
    # At 10:20 the window (10:05, 10:20] holds only a@x from event 13.
    [(10, 2), (12, 2), (13, 1)],
)
def test_distinct_emails_15m(activity_features, event_id, expected):
    assert activity_features.loc[event_id, "ip_distinct_emails_15m"] == expected


def test_seconds_since_previous_on_same_ip(activity_features):
    assert activity_features.loc[12, "ip_seconds_since_previous"] == 180.0


def test_duplicate_timestamp_gap_is_zero(activity_features):
    assert activity_features.loc[11, "ip_seconds_since_previous"] == 0.0


def test_first_event_of_ip_gets_max_gap(activity_features):
    assert activity_features.loc[10, "ip_seconds_since_previous"] == 86_400.0


def test_missing_ip_is_its_own_group(activity_features):
    # Event 14 has no IP: it must not pool with anything.
    assert activity_features.loc[14, "ip_events_5m"] == 1


def test_missing_session_is_its_own_group(activity_features):
    assert activity_features.loc[14, "session_events_so_far"] == 1


def test_timezone_aware_timestamp_converted(activity_features):
    # 11:10+01:00 is 10:10 UTC.
    assert activity_features.loc[14, "hour"] == 10


def test_session_rate_per_minute(activity_features):
    # Session s1: 3 events so far at 10:03, 3 minutes after its start.
    assert activity_features.loc[12, "session_events_per_minute"] == pytest.approx(1.0)


def test_details_numbers_parsed(activity_features):
    assert activity_features.loc[14, "order_total"] == 99.5


@pytest.mark.parametrize(("event_id", "expected"), [(13, 1.0), (14, 0.0), (15, 1.0)])
def test_customer_new_ip(activity_features, event_id, expected):
    # 14 has no IP, so it cannot be a new IP; 15 is the first event from 2.2.2.2.
    assert activity_features.loc[event_id, "customer_new_ip"] == expected


def test_known_customer_ip_is_not_new(activity_raw):
    features = build_activity_features(
        activity_raw, known_customer_ips={(7, "1.1.1.1")}
    )
    assert features.loc[13, "customer_new_ip"] == 0.0


def test_customer_events_1h(activity_features):
    # Customer 7 at 10:30: events 13 (10:20), 14 (10:10 UTC) and 15.
    assert activity_features.loc[15, "customer_events_1h"] == 3


@pytest.mark.parametrize(("event_id", "expected"), [(10, 1.0), (13, 0.0)])
def test_user_agent_automated(activity_features, event_id, expected):
    assert activity_features.loc[event_id, "user_agent_automated"] == expected


def test_user_agent_share(activity_features):
    # At 10:20 the last hour holds 10, 11, 12, 13 and 14 (10:10): two Mozilla.
    assert activity_features.loc[13, "user_agent_share_1h"] == pytest.approx(2 / 5)


def test_features_ignore_later_rows(activity_raw):
    earlier = build_activity_features(activity_raw.loc[activity_raw["id"] <= 12])
    full = build_activity_features(activity_raw)
    pd.testing.assert_frame_equal(earlier.loc[[10, 11, 12]], full.loc[[10, 11, 12]])


def test_features_independent_of_row_order(activity_raw):
    shuffled = build_activity_features(activity_raw.sample(frac=1, random_state=3))
    ordered = build_activity_features(activity_raw.sort_values("id"))
    pd.testing.assert_frame_equal(shuffled.sort_index(), ordered.sort_index())


def test_window_count_with_unsorted_groups():
    groups = np.array([1, 0, 1, 0, 1])
    times = np.array([50, 10, 0, 30, 20]) * 1_000_000
    counts = window_count(groups, times, 30 * 1_000_000)
    # Group 1 at t=50 sees only itself: 20 is exactly 30 s back, on the open edge.
    # Group 0 at t=30 sees 10 and 30; group 1 at t=20 sees 0 and 20.
    assert counts.tolist() == [1, 1, 1, 2, 2]


def test_window_distinct_counts_each_value_once():
    groups = np.zeros(4, dtype=int)
    times = np.array([0, 5, 10, 100]) * 1_000_000
    values = pd.Series(["a", "a", "b", "a"])
    counts = window_distinct(groups, times, values, 20 * 1_000_000)
    assert counts.tolist() == [1, 1, 2, 1]


def test_sum_at_or_before_per_group():
    groups = np.array([0, 1, 0, 0])
    times = np.array([0, 5, 10, 20])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    sums = sum_at_or_before(
        groups, times, values, np.array([0, 1, 0, 2]), np.array([10, 4, 25, 30])
    )
    # Group 0 up to 10: 1 + 3; group 1 before its only row: 0; group 0 up to
    # 25: 1 + 3 + 4; group 2 has no rows.
    assert sums.tolist() == [4.0, 0.0, 8.0, 0.0]


def test_ip_gap_log10_of_previous_event(activity_features):
    # Event 12 comes 3 minutes after events 10 and 11 on the same IP.
    assert activity_features.loc[12, "ip_gap_log10"] == pytest.approx(np.log10(180))


def test_ip_gap_log10_of_equal_timestamps_is_finite(activity_features):
    # Events 10 and 11 share a timestamp: the gap is clipped to 1 ms.
    assert activity_features.loc[11, "ip_gap_log10"] == pytest.approx(-3.0)


def device_row(event_id, timestamp, ip, agent, customer=7):
    return (event_id, timestamp, "view_page", customer, f"s{event_id}", ip, agent)


@pytest.fixture
def device_features():
    rows = [
        # Customer 7 is active at 10:00 on the home IP and browser.
        device_row(1, "2024-03-01T10:00:00Z", "1.1.1.1", "Firefox"),
        device_row(2, "2024-03-02T10:00:00Z", "1.1.1.1", "Firefox"),
        # A new IP and a new browser at 22:00, then again half an hour later.
        device_row(3, "2024-03-03T22:00:00Z", "9.9.9.9", "OldChrome"),
        device_row(4, "2024-03-03T22:30:00Z", "9.9.9.9", "OldChrome"),
        # The home device at an odd hour is not a new device.
        device_row(5, "2024-03-03T23:00:00Z", "1.1.1.1", "Firefox"),
        # A new IP with the known browser is not a new device either.
        device_row(6, "2024-03-04T22:00:00Z", "8.8.8.8", "Firefox"),
        # Customer 8 has no older events, so no habit to break.
        device_row(7, "2024-03-04T03:00:00Z", "7.7.7.7", "Safari", customer=8),
    ]
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS[:7])
    raw[RAW_COLUMNS[7:]] = None
    return build_activity_features(raw.iloc[::-1])


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        # Habit 10:00 with no spread, so the floor of 2 hours applies:
        # 12 hours away is z = 6, 11.5 hours away (22:30) is z = 5.75.
        (3, 6.0),
        (4, 5.75),
        (5, 0.0),
        (6, 0.0),
        (7, 0.0),
        (1, 0.0),
    ],
)
def test_new_device_hour_z(device_features, event_id, expected):
    value = device_features.loc[event_id, "customer_new_device_hour_z"]
    assert value == pytest.approx(expected)


def test_new_device_hour_z_known_ip_pair():
    raw = pd.DataFrame(
        [
            device_row(1, "2024-03-01T10:00:00Z", "1.1.1.1", "Firefox"),
            device_row(2, "2024-03-02T22:00:00Z", "9.9.9.9", "OldChrome"),
        ],
        columns=RAW_COLUMNS[:7],
    )
    raw[RAW_COLUMNS[7:]] = None
    features = build_activity_features(raw, known_customer_ips={(7, "9.9.9.9")})
    assert features.loc[2, "customer_new_device_hour_z"] == 0.0


ORDER_COLUMNS = [
    "id",
    "created_at",
    "customer_id",
    "total_amount",
    "item_count",
    "units",
    "items_total",
]


@pytest.fixture
def order_features():
    raw = pd.DataFrame(
        [
            (3, "2024-01-02T12:00:00Z", 1, 300.0, 1, 1, 30.0),
            (1, "2024-01-01T10:00:00Z", 1, 100.0, 2, 4, 100.0),
            (2, "2024-01-01T16:00:00+02:00", 1, 50.0, 1, 1, 50.0),
            (4, "2024-01-01T10:00:00Z", 2, 0.0, 0, None, None),
        ],
        columns=ORDER_COLUMNS,
    )
    return build_order_features(raw)


@pytest.mark.parametrize(("order_id", "expected"), [(1, 1.0), (2, 0.0), (3, 0.0)])
def test_first_order_flag(order_features, order_id, expected):
    assert order_features.loc[order_id, "first_order"] == expected


def test_total_to_items_ratio(order_features):
    assert order_features.loc[3, "total_to_items_ratio"] == 10.0


def test_order_without_items_ratio_is_one(order_features):
    assert order_features.loc[4, "total_to_items_ratio"] == 1.0


def test_total_against_customer_typical(order_features):
    # Earlier orders of customer 1 average (100 + 50) / 2 = 75; 300 / 75 = 4.
    assert order_features.loc[3, "total_to_customer_typical"] == 4.0


def test_seconds_since_previous_order(order_features):
    # 16:00+02:00 is 14:00 UTC, four hours after order 1.
    assert order_features.loc[2, "seconds_since_previous_order"] == 4 * 3600


def test_customer_orders_24h(order_features):
    # Order 3 at 12:00 next day: order 2 (14:00 UTC) is within 24 h, order 1 is not.
    assert order_features.loc[3, "customer_orders_24h"] == 2


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("log_total", np.log10(300)),
        ("log_units", 0.0),
        # Order 2 was at 14:00 UTC the day before: 22 hours earlier.
        ("log_gap_since_previous_order", np.log10(22 * 3600)),
        ("log_total_to_customer_typical", np.log10(4)),
    ],
)
def test_order_log_features(order_features, column, expected):
    assert order_features.loc[3, column] == pytest.approx(expected)


def test_order_log_total_of_zero_is_finite(order_features):
    assert order_features.loc[4, "log_total"] == 0.0


def test_prior_orders_make_first_order_false():
    raw = pd.DataFrame(
        [(9, "2024-02-01T10:00:00Z", 5, 80.0, 1, 1, 80.0)], columns=ORDER_COLUMNS
    )
    prior = pd.DataFrame(
        [(5, 2, 80.0, pd.Timestamp("2024-01-31T10:00:00Z"))],
        columns=["customer_id", "prior_count", "prior_sum", "prior_last"],
    )
    features = build_order_features(raw, prior=prior)
    assert features.loc[9, "first_order"] == 0.0
    assert features.loc[9, "total_to_customer_typical"] == 2.0
    assert features.loc[9, "seconds_since_previous_order"] == 86_400


@pytest.mark.django_db
def test_load_features_limit_returns_most_recent(shop):
    features, times = load_features("activity", limit=5)
    assert sorted(features.index) == sorted(shop["burst"][-5:])
    assert times.is_monotonic_increasing


@pytest.mark.django_db
def test_load_features_keeps_history_windows(shop):
    features, _times = load_features("activity", limit=1)
    # The last burst event still sees the seven earlier ones from history.
    assert features.iloc[0]["ip_failed_logins_15m"] == 8


@pytest.mark.django_db
def test_load_order_features_reads_items(shop):
    features, _times = load_features("order")
    assert features.loc[shop["huge"][0], "total_to_items_ratio"] == 100.0


@pytest.mark.django_db
def test_load_features_empty_database():
    features, times = load_features("order")
    assert features.empty
    assert list(features.columns) == feature_names("order")


def test_unknown_entity_rejected():
    with pytest.raises(ValueError, match="Unknown entity type 'user'"):
        feature_names("user")


def test_customer_orders_10m_counts_look_back():
    start = pd.Timestamp("2025-01-01 10:00", tz="UTC")
    raw = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "created_at": [start + pd.Timedelta(minutes=m) for m in (0, 4, 9, 20)],
            "customer_id": [1, 1, 1, 1],
            "total_amount": [5.0] * 4,
            "item_count": [1] * 4,
            "units": [1] * 4,
            "items_total": [5.0] * 4,
        }
    )
    features = build_order_features(raw)
    # At 10:09 the orders at 10:00 and 10:04 are within 10 minutes; at 10:20
    # only order 4 itself is (10:09 is 11 minutes back).
    assert features["customer_orders_10m"].tolist() == [1.0, 2.0, 3.0, 1.0]


@pytest.fixture
def signup_features():
    created = pd.Timestamp("2024-01-01T00:00:00Z")
    raw = pd.DataFrame(
        [
            (1, "2024-01-01T10:00:00Z", 1, 100.0, 1, 1, 100.0, created),
            (2, "2024-01-01T11:00:00Z", 2, 10.0, 1, 1, 10.0, None),
            (4, "2024-01-01T12:00:00Z", 1, 1000.0, 1, 1, 1000.0, created),
            (
                3,
                "2024-01-02T12:00:00Z",
                3,
                10_000.0,
                1,
                1,
                10_000.0,
                pd.Timestamp("2024-01-02T11:50:00Z"),
            ),
        ],
        columns=[*ORDER_COLUMNS, "customer_created_at"],
    )
    return build_order_features(raw)


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        # Signed up 10 hours before.
        (1, np.log10(600)),
        # No sign-up time: the 30-day cap.
        (2, np.log10(30 * 24 * 60)),
        (3, 1.0),
    ],
)
def test_log_minutes_since_signup(signup_features, order_id, expected):
    assert signup_features.loc[order_id, "log_minutes_since_signup"] == (
        pytest.approx(expected)
    )


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        # The shop's first order is its own typical total.
        (1, 0.0),
        # Sign-up unknown: not a brand-new account.
        (2, 0.0),
        # Not the customer's first order.
        (4, 0.0),
        # Earlier log10 totals 2, 1 and 3 average 2; log10(10,000) = 4.
        (3, 2.0),
    ],
)
def test_new_account_log_total_excess(signup_features, order_id, expected):
    assert signup_features.loc[order_id, "new_account_log_total_excess"] == (
        pytest.approx(expected)
    )


def test_new_account_excess_needs_sign_up_within_a_day():
    raw = pd.DataFrame(
        [
            (1, "2024-01-01T10:00:00Z", 1, 10.0, 1, 1, 10.0, None),
            (
                2,
                "2024-01-03T10:00:00Z",
                2,
                10_000.0,
                1,
                1,
                10_000.0,
                pd.Timestamp("2024-01-02T09:59:00Z"),
            ),
        ],
        columns=[*ORDER_COLUMNS, "customer_created_at"],
    )
    features = build_order_features(raw)
    # Signed up 1,441 minutes before: one minute too long ago.
    assert features.loc[2, "new_account_log_total_excess"] == 0.0


def test_log_total_to_items_ratio(order_features):
    # Order 3: total 300 against items of 30.
    assert order_features.loc[3, "log_total_to_items_ratio"] == pytest.approx(1.0)
