"""Seeded runs of the engine, checked against the rows they store."""

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest

from activities.models import UserActivity
from simulator.config import SimulationConfigError
from simulator.engine import reset_simulated_data, run_simulation
from simulator.generation.normal import NormalTraffic
from simulator.generation.vocabulary import BOT_USER_AGENTS
from simulator.models import AnomalyLabel
from simulator.tests.conftest import small_config
from store.models import Customer, DataBatch, Order, OrderItem, Product, Source


def test_run_stores_requested_counts(simulated):
    counts = {
        "customers": Customer.objects.filter(source=Source.SIMULATOR).count(),
        "products": Product.objects.filter(source=Source.SIMULATOR).count(),
        "orders": Order.objects.filter(source=Source.SIMULATOR).count(),
        "activities": UserActivity.objects.filter(source=Source.SIMULATOR).count(),
    }
    assert counts == {
        "customers": 150,
        "products": 60,
        "orders": 300,
        "activities": 6_000,
    }


def test_run_rows_point_at_its_batch(simulated):
    batch = simulated.batch
    assert batch.kind == "simulation"
    assert UserActivity.objects.exclude(batch=batch).count() == 0
    assert Order.objects.exclude(batch=batch).count() == 0


@pytest.mark.parametrize(
    "kind",
    ["burst", "brute_force", "credential_stuffing", "scraper", "account_takeover"]
    + ["total_mismatch", "quantity_outlier", "card_testing", "first_order_huge"],
)
def test_every_kind_is_injected(simulated, kind):
    assert AnomalyLabel.objects.filter(kind=kind).exists()


def test_anomaly_rates_are_approximate(simulated):
    labelled = AnomalyLabel.objects.filter(entity_type="activity").count()
    assert 0.15 * 6_000 <= labelled <= 0.25 * 6_000


def test_labels_point_at_existing_rows(simulated):
    activity_ids = set(UserActivity.objects.values_list("id", flat=True))
    order_ids = set(Order.objects.values_list("id", flat=True))
    labels = AnomalyLabel.objects.values_list("entity_type", "entity_id")
    missing = [
        (entity, pk)
        for entity, pk in labels
        if pk not in (activity_ids if entity == "activity" else order_ids)
    ]
    assert missing == []


def test_normal_orders_total_equals_items(order_frame):
    normal = order_frame[order_frame["kind"].isna()]
    assert (normal["total"] - normal["item_sum"]).abs().max() < 0.005


def test_purchase_events_match_orders(activity_frame, order_frame):
    purchases = activity_frame[activity_frame["action_type"] == "purchase"]
    totals = order_frame.set_index("id")["total"]
    for details in purchases["details"]:
        assert totals[details["order_id"]] == pytest.approx(details["order_total"])


def incidents(frame, kind):
    return [group for _id, group in frame[frame["kind"] == kind].groupby("incident_id")]


def test_burst_is_identical_actions_within_seconds(activity_frame):
    for group in incidents(activity_frame, "burst"):
        assert len(group) >= 20
        assert group["ip_address"].nunique() == 1
        assert group["action_type"].nunique() == 1
        assert group["details"].astype(str).nunique() == 1
        span = group["timestamp"].max() - group["timestamp"].min()
        assert span.total_seconds() < 25


def test_brute_force_targets_one_email_from_one_ip(activity_frame):
    for group in incidents(activity_frame, "brute_force"):
        emails = group["details"].map(lambda d: d["attempted_email"])
        assert (group["action_type"] == "failed_login").all()
        assert group["ip_address"].nunique() == 1
        assert emails.nunique() == 1
        assert len(group) >= 15


def test_credential_stuffing_tries_many_emails(activity_frame):
    for group in incidents(activity_frame, "credential_stuffing"):
        emails = group["details"].map(lambda d: d["attempted_email"])
        assert (group["action_type"] == "failed_login").all()
        assert group["ip_address"].nunique() == 1
        assert emails.nunique() == len(group)


def test_scraper_views_products_at_machine_speed(activity_frame):
    for group in incidents(activity_frame, "scraper"):
        gaps = group["timestamp"].sort_values().diff().dt.total_seconds().dropna()
        assert len(group) >= 150
        assert group["user_agent"].isin(BOT_USER_AGENTS).all()
        assert gaps.max() <= 1.0


def test_account_takeover_uses_new_ip_and_agent(activity_frame, order_frame):
    normal = activity_frame[activity_frame["kind"].isna()]
    for group in incidents(activity_frame, "account_takeover"):
        group = group.sort_values("timestamp")
        customer = group["customer_id"].iloc[0]
        own = normal[normal["customer_id"] == customer]
        assert group["action_type"].iloc[0] == "login"
        assert "update_profile" in set(group["action_type"])
        assert group["action_type"].iloc[-1] == "purchase"
        assert not set(group["ip_address"]) & set(own["ip_address"])
        assert not set(group["user_agent"]) & set(own["user_agent"])
        order_id = group["details"].iloc[-1]["order_id"]
        assert order_frame.set_index("id").loc[order_id, "kind"] == "account_takeover"


def test_account_takeover_hour_is_unusual(activity_frame):
    normal = activity_frame[activity_frame["kind"].isna()]
    for group in incidents(activity_frame, "account_takeover"):
        customer = group["customer_id"].iloc[0]
        hours = normal.loc[normal["customer_id"] == customer, "timestamp"].dt.hour
        login_hour = group.sort_values("timestamp")["timestamp"].iloc[0].hour
        usual = hours.value_counts(normalize=True)
        assert usual.get(login_hour, 0.0) < 0.2


def test_total_mismatch_differs_from_items(order_frame):
    rows = order_frame[order_frame["kind"] == "total_mismatch"]
    ratio = rows["total"] / rows["item_sum"]
    assert ((ratio >= 10) | (ratio <= 0.1)).all()


def test_quantity_outlier_has_thousands_of_units(order_frame):
    rows = order_frame[order_frame["kind"] == "quantity_outlier"]
    assert (rows["max_quantity"] >= 1000).all()


def test_card_testing_is_many_small_orders(order_frame):
    normal_median = order_frame[order_frame["kind"].isna()]["total"].median()
    for group in incidents(order_frame, "card_testing"):
        span = group["created_at"].max() - group["created_at"].min()
        assert len(group) >= 5
        assert group["customer_id"].nunique() == 1
        assert span.total_seconds() <= 20 * 90
        assert (group["total"] < normal_median).all()


def test_first_order_huge_is_new_customers_only_order(order_frame):
    normal_median = order_frame[order_frame["kind"].isna()]["total"].median()
    for _index, row in order_frame[
        order_frame["kind"] == "first_order_huge"
    ].iterrows():
        customer = Customer.objects.get(pk=row["customer_id"])
        age = (row["created_at"] - customer.created_at).total_seconds()
        assert Order.objects.filter(customer=customer).count() == 1
        assert 0 < age <= 30 * 60
        assert row["total"] > 10 * normal_median


def stored_rows():
    """Return every simulated row without ids, for comparing two runs."""
    return {
        "customers": list(
            Customer.objects.order_by("id").values_list(
                "email", "first_name", "created_at"
            )
        ),
        "orders": list(
            Order.objects.order_by("id").values_list(
                "created_at", "total_amount", "status"
            )
        ),
        "items": list(
            OrderItem.objects.order_by("id").values_list("quantity", "unit_price")
        ),
        "events": list(
            UserActivity.objects.order_by("id").values_list(
                "timestamp", "action_type", "ip_address", "user_agent", "session_id"
            )
        ),
        "labels": list(AnomalyLabel.objects.order_by("id").values_list("kind")),
    }


def test_same_seed_gives_same_data(db):
    config = small_config(activities=2_000, orders=100)
    run_simulation(config)
    first = stored_rows()
    reset_simulated_data()
    run_simulation(config)
    assert stored_rows() == first


def test_reused_seed_is_rejected_before_writing(simulated):
    before = UserActivity.objects.count()
    with pytest.raises(SimulationConfigError, match="seed"):
        run_simulation(small_config())
    assert UserActivity.objects.count() == before


def test_reset_removes_only_simulated_rows(simulated):
    kept = Customer.objects.create(email="kept@example.com", source=Source.API)
    Order.objects.create(customer=kept, total_amount="5.00", source=Source.API)
    UserActivity.objects.create(customer=kept, action_type="login", source=Source.API)
    reset_simulated_data()
    assert Customer.objects.get().email == "kept@example.com"
    assert Order.objects.count() == 1
    assert UserActivity.objects.count() == 1
    assert AnomalyLabel.objects.count() == 0
    assert DataBatch.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customers": -1}, "customers"),
        ({"orders": -5}, "orders"),
        ({"activity_anomaly_rate": 1.5}, "activity_anomaly_rate"),
        ({"order_anomaly_rate": 0.9}, "order_anomaly_rate"),
        ({"kinds": "burst,meteor"}, "kinds"),
        ({"locale": "xx_XX"}, "locale"),
        ({"activities": 10_000_000, "days": 1}, "activities"),
        ({"orders": 2_000, "activities": 3_000}, "activities"),
        ({"kinds": "burst", "order_anomaly_rate": 0.1}, "kinds"),
        ({"end": datetime(9999, 12, 31, tzinfo=UTC)}, "end"),
        ({"end": datetime(1970, 1, 2, tzinfo=UTC), "days": 3}, "end"),
        ({"end": datetime(1, 1, 2, tzinfo=UTC)}, "end"),
    ],
)
def test_bad_config_names_field(db, overrides, field):
    with pytest.raises(SimulationConfigError) as caught:
        small_config(**overrides)
    assert field in caught.value.errors


def test_kind_mix_limits_kinds(db):
    run_simulation(
        small_config(kinds="burst:3,scraper:1,card_testing", activities=3_000)
    )
    kinds = set(AnomalyLabel.objects.values_list("kind", flat=True))
    assert kinds == {"burst", "scraper", "card_testing"}


def test_purchase_sessions_of_a_customer_on_different_days():
    hour = 3_600_000_000
    world = SimpleNamespace(
        start_us=0,
        end_us=240 * hour,
        customer_created=np.array([-10 * hour, 50 * hour]),
    )
    customers = np.array([0, 1, 0, 0, 1])
    starts = np.array([10, 60, 11, 30, 61]) * hour
    spaced = NormalTraffic._spaced(SimpleNamespace(world=world), customers, starts)
    # Customer 0: day 0 at 10 h; 11 h shares day 0, so it moves to day 1 at
    # 11 h (35 h), which pushes 30 h (day 1, 6 h) on to day 2 at 6 h (54 h).
    # Customer 1: 60 h (day 2), then 61 h moves to day 3 at 13 h (85 h).
    assert (spaced // hour).tolist() == [10, 60, 35, 54, 85]


def test_purchase_sessions_keep_their_time_of_day():
    hour = 3_600_000_000
    world = SimpleNamespace(
        start_us=0, end_us=240 * hour, customer_created=np.array([-10 * hour])
    )
    starts = np.array([9, 10, 11, 12]) * hour
    spaced = NormalTraffic._spaced(
        SimpleNamespace(world=world), np.zeros(4, dtype=int), starts
    )
    assert ((spaced // hour) % 24).tolist() == [9, 10, 11, 12]
    assert len(set((spaced // (24 * hour)).tolist())) == 4


def test_purchase_sessions_pulled_back_before_the_end():
    hour = 3_600_000_000
    world = SimpleNamespace(
        start_us=0, end_us=72 * hour, customer_created=np.array([-10 * hour])
    )
    spaced = NormalTraffic._spaced(
        SimpleNamespace(world=world), np.array([0, 0]), np.array([65, 66]) * hour
    )
    # The last day a session may start on is day 2 (latest start 69 h), so
    # the first session moves back to day 1 at the same time of day.
    assert (spaced // hour).tolist() == [41, 66]


def test_recent_customers_keep_their_habitual_hour():
    hour = 3_600_000_000
    day = 24 * hour
    world = SimpleNamespace(
        start_us=0,
        end_us=30 * day,
        active_hour=np.array([13.0]),
        # Signed up on day 25: most drawn days lie before, and move inside.
        customer_created=np.array([25 * day]),
    )
    traffic = SimpleNamespace(world=world, rng=np.random.default_rng(7))
    starts = NormalTraffic._session_starts(traffic, np.zeros(500, dtype=int))
    assert starts.min() >= 25 * day
    hours = (starts % day) / hour
    # Normal noise of 1.5 h around 13 h; 7 h away is more than 4 sigma.
    assert np.all(np.abs(hours - 13) < 7)


def test_busy_customer_orders_stay_hours_apart():
    hour = 3_600_000_000
    world = SimpleNamespace(
        start_us=0, end_us=48 * hour, customer_created=np.array([-10 * hour])
    )
    # Five purchases in a two-day span: more than its days, so spaced by gap.
    starts = np.array([10, 10, 11, 12, 30]) * hour
    spaced = NormalTraffic._spaced(
        SimpleNamespace(world=world), np.zeros(5, dtype=int), starts
    )
    assert np.diff(np.sort(spaced)).min() >= 3 * hour


def test_end_outside_event_times_is_explained(db):
    with pytest.raises(SimulationConfigError) as caught:
        small_config(end=datetime(9999, 12, 31, tzinfo=UTC))
    message = caught.value.errors["end"]
    assert "9999-12-31" in message
    assert "1970-01-01" in message
    assert "leave it out" in message
