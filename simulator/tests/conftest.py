"""Fixtures of the simulator tests: one small seeded run and its stored rows."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from activities.models import UserActivity
from simulator.config import SimulationConfig
from simulator.engine import run_simulation
from simulator.models import AnomalyLabel
from store.models import Order, OrderItem

END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def small_config(**overrides):
    values = {
        "customers": 150,
        "products": 60,
        "orders": 300,
        "activities": 6_000,
        "order_anomaly_rate": 0.2,
        "activity_anomaly_rate": 0.2,
        "days": 10,
        "seed": 11,
        "end": END,
    }
    return SimulationConfig(**(values | overrides))


@pytest.fixture
def simulated(db):
    return run_simulation(small_config())


@pytest.fixture
def activity_frame(simulated):
    """Stored events joined to their labels, ordered by id."""
    events = pd.DataFrame(
        UserActivity.objects.order_by("id").values(
            "id",
            "customer_id",
            "timestamp",
            "action_type",
            "details",
            "ip_address",
            "user_agent",
            "session_id",
        )
    )
    labels = pd.DataFrame(
        AnomalyLabel.objects.filter(entity_type="activity").values(
            "entity_id", "kind", "incident_id"
        )
    )
    return events.merge(labels, left_on="id", right_on="entity_id", how="left")


@pytest.fixture
def order_frame(simulated):
    """Stored orders with their item sums and labels."""
    orders = pd.DataFrame(
        Order.objects.values("id", "customer_id", "created_at", "total_amount")
    )
    items = pd.DataFrame(OrderItem.objects.values("order_id", "quantity", "unit_price"))
    items["line"] = items["quantity"] * items["unit_price"].astype(float)
    sums = items.groupby("order_id").agg(
        item_sum=("line", "sum"), max_quantity=("quantity", "max")
    )
    orders = orders.merge(sums, left_on="id", right_index=True, how="left")
    orders["total"] = orders["total_amount"].astype(float)
    labels = pd.DataFrame(
        AnomalyLabel.objects.filter(entity_type="order").values(
            "entity_id", "kind", "incident_id"
        )
    )
    return orders.merge(labels, left_on="id", right_on="entity_id", how="left")
