"""Tests of the order features taken from the purchase session."""

import numpy as np
import pandas as pd
import pytest

from activities.models import UserActivity
from anomalies.features import load_features
from anomalies.features.order_context import (
    LINK_COLUMNS,
    SESSION_COLUMNS,
    build_order_context,
    session_device_hour_z,
)
from store.models import Customer, Order

HOME = ("10.0.0.1", "Firefox")


def session(customer, name, start, device=HOME):
    return (customer, name, pd.Timestamp(start, tz="UTC"), *device)


@pytest.fixture
def sessions():
    return pd.DataFrame(
        [
            session(1, "a", "2025-01-01 10:00"),
            session(1, "b", "2025-01-02 12:00"),
            # New IP and new agent, 12 h from the habit of 11:00.
            session(1, "c", "2025-01-03 23:00", ("99.9.9.9", "Evil")),
            # New IP only: the agent is known, so the device is not new.
            session(1, "d", "2025-01-04 23:00", ("88.8.8.8", "Firefox")),
            # A customer's first session has no habit to break.
            session(2, "e", "2025-01-01 03:00", ("77.7.7.7", "Edge")),
        ],
        columns=SESSION_COLUMNS,
    )


def test_new_device_far_from_habit(sessions):
    # Habit: circular mean of 10:00 and 12:00 is 11:00, circular spread of two
    # times an hour either side is about 1 h, floored at 2 h; 12 h / 2 h = 6.
    z = session_device_hour_z(sessions)
    assert z[2] == pytest.approx(6.0)


@pytest.mark.parametrize("row", [0, 1, 3, 4])
def test_known_device_or_first_session_scores_zero(sessions, row):
    assert session_device_hour_z(sessions)[row] == 0.0


def test_scores_independent_of_row_order(sessions):
    shuffled = sessions.iloc[[4, 2, 0, 3, 1]]
    expected = pd.Series(session_device_hour_z(sessions), index=sessions.session_id)
    result = pd.Series(session_device_hour_z(shuffled), index=shuffled.session_id)
    pd.testing.assert_series_equal(result.sort_index(), expected.sort_index())


def test_order_gets_its_session_score(sessions):
    links = pd.DataFrame([(100, "c"), (101, "a")], columns=LINK_COLUMNS)
    context = build_order_context([100, 101, 102], sessions, links)
    assert context.loc[100, "order_session_new_device_hour_z"] == pytest.approx(6.0)


@pytest.mark.parametrize("order_id", [101, 102])
def test_order_without_suspicious_session_is_zero(sessions, order_id):
    links = pd.DataFrame([(100, "c"), (101, "a")], columns=LINK_COLUMNS)
    context = build_order_context([100, 101, 102], sessions, links)
    assert context.loc[order_id, "order_session_new_device_hour_z"] == 0.0


def test_no_sessions_gives_zeros():
    empty = pd.DataFrame(columns=SESSION_COLUMNS)
    links = pd.DataFrame(columns=LINK_COLUMNS)
    context = build_order_context([5], empty, links)
    assert context.loc[5, "order_session_new_device_hour_z"] == 0.0


@pytest.mark.django_db
def test_loader_links_purchase_event_to_order():
    customer = Customer.objects.create(email="victim@example.com")
    times = {
        "a": pd.Timestamp("2025-01-01 10:00", tz="UTC"),
        "b": pd.Timestamp("2025-01-02 12:00", tz="UTC"),
        "c": pd.Timestamp("2025-01-03 23:00", tz="UTC"),
    }
    order = Order.objects.create(
        customer=customer, total_amount=500, created_at=times["c"]
    )
    devices = {"a": HOME, "b": HOME, "c": ("99.9.9.9", "Evil")}
    UserActivity.objects.bulk_create(
        [
            UserActivity(
                customer=customer,
                session_id=name,
                timestamp=times[name],
                action_type="purchase" if name == "c" else "login",
                ip_address=devices[name][0],
                user_agent=devices[name][1],
                details={"order_id": order.id} if name == "c" else {},
            )
            for name in times
        ]
    )
    features, _times = load_features("order")
    value = features.loc[order.id, "order_session_new_device_hour_z"]
    assert np.isclose(value, 6.0)
