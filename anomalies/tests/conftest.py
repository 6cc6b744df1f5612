"""Small shop fixtures with injected anomalies and their simulator labels."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from activities.models import UserActivity
from simulator.models import AnomalyLabel
from store.models import Customer, DataBatch, Order, OrderItem, Product, Source

START = datetime.datetime(2024, 3, 4, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def batch(db):
    return DataBatch.objects.create(source=Source.SIMULATOR, kind="simulation")


@pytest.fixture
def shop(batch):
    """Create 300 normal events, 40 orders, a brute-force burst and a huge order.

    Returns a dict with the ids of the injected rows under "burst" and "huge".
    """
    customers = Customer.objects.bulk_create(
        Customer(email=f"c{i}@example.com", source=Source.SIMULATOR, batch=batch)
        for i in range(10)
    )
    product = Product.objects.create(name="Mug", price=Decimal("10.00"))
    events = []
    for i in range(300):
        customer = customers[i % 10]
        events.append(
            UserActivity(
                customer=customer,
                session_id=f"s{i % 10}-{i // 30}",
                timestamp=START + datetime.timedelta(seconds=97 * i),
                action_type=["view_page", "view_product", "search"][i % 3],
                ip_address=f"10.0.0.{i % 10}",
                user_agent="Mozilla/5.0",
                details={},
                source=Source.SIMULATOR,
                batch=batch,
            )
        )
    burst_start = START + datetime.timedelta(hours=9)
    burst = [
        UserActivity(
            session_id="attack",
            timestamp=burst_start + datetime.timedelta(seconds=2 * i),
            action_type="failed_login",
            ip_address="203.0.113.9",
            user_agent="python-requests/2.31",
            details={"attempted_email": f"victim{i}@example.com"},
            source=Source.SIMULATOR,
            batch=batch,
        )
        for i in range(8)
    ]
    UserActivity.objects.bulk_create(events + burst)

    orders = []
    for i in range(40):
        orders.append(
            Order(
                customer=customers[i % 10],
                created_at=START + datetime.timedelta(hours=3 * i),
                total_amount=Decimal("20.00") + (i % 3),
                source=Source.SIMULATOR,
                batch=batch,
            )
        )
    huge = Order(
        customer=customers[3],
        created_at=START + datetime.timedelta(hours=200),
        total_amount=Decimal("25000.00"),
        source=Source.SIMULATOR,
        batch=batch,
    )
    Order.objects.bulk_create([*orders, huge])
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=product,
            quantity=2,
            unit_price=order.total_amount / 2,
        )
        for order in orders
    )
    OrderItem.objects.create(
        order=huge, product=product, quantity=1, unit_price=Decimal("10.00")
    )
    AnomalyLabel.objects.bulk_create(
        [
            *(
                AnomalyLabel(
                    entity_type="activity",
                    entity_id=event.pk,
                    kind="brute_force",
                    incident_id=1,
                    batch=batch,
                )
                for event in burst
            ),
            AnomalyLabel(
                entity_type="order",
                entity_id=huge.pk,
                kind="total_mismatch",
                incident_id=2,
                batch=batch,
            ),
        ]
    )
    return {
        "burst": [event.pk for event in burst],
        "huge": [huge.pk],
        "now": timezone.now(),
    }
