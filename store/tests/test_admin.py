from decimal import Decimal

import pytest
from django.urls import reverse

from activities.models import UserActivity
from store.models import Category, Customer, DataBatch, Order, OrderItem, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def simulated_batch(make_customer, make_product):
    batch = DataBatch.objects.create(
        source=Source.SIMULATOR, kind="simulation", label="Test run"
    )
    customer = make_customer(source=Source.SIMULATOR, batch=batch)
    product = make_product(source=Source.SIMULATOR, batch=batch)
    order = Order.objects.create(
        customer=customer, total_amount=Decimal("1"), batch=batch
    )
    OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=1)
    UserActivity.objects.bulk_create(
        UserActivity(action_type="login", customer=customer, batch=batch)
        for _ in range(3)
    )
    return batch


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("store/databatch", "q=Test&source=simulator"),
        ("store/category", "q=x&source=api"),
        ("store/product", "q=x&source=api"),
        ("store/customer", "q=example&source=simulator"),
        ("store/order", "q=example&status__exact=pending"),
        ("store/orderitem", "q=1&order__status=pending"),
        ("activities/useractivity", "q=10.0.0.1&action_type__exact=login"),
    ],
)
def test_changelist_searches_and_filters(admin_client, simulated_batch, model, query):
    response = admin_client.get(f"/admin/{model}/?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "model",
    [
        "store/databatch",
        "store/category",
        "store/product",
        "store/customer",
        "store/order",
        "store/orderitem",
        "activities/useractivity",
    ],
)
def test_add_page_renders(admin_client, model):
    assert admin_client.get(f"/admin/{model}/add/").status_code == 200


def test_batch_page_shows_row_counts(admin_client, simulated_batch):
    url = reverse("admin:store_databatch_change", args=[simulated_batch.pk])
    content = admin_client.get(url).content.decode()
    assert "user activities: 3" in content


def test_delete_with_rows_asks_first(admin_client, simulated_batch):
    response = admin_client.post(
        reverse("admin:store_databatch_changelist"),
        {"action": "delete_with_rows", "_selected_action": [simulated_batch.pk]},
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "This cannot be undone" in content
    assert "user activities: 3" in content
    assert 'name="confirm" value="yes"' in content
    assert DataBatch.objects.filter(pk=simulated_batch.pk).exists()
    assert UserActivity.objects.count() == 3


def test_delete_with_rows_action_removes_batch_rows(admin_client, simulated_batch):
    live = Customer.objects.create(email="live@example.com")
    response = admin_client.post(
        reverse("admin:store_databatch_changelist"),
        {
            "action": "delete_with_rows",
            "_selected_action": [simulated_batch.pk],
            "confirm": "yes",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert not DataBatch.objects.exists()
    assert UserActivity.objects.count() == 0
    assert list(Customer.objects.all()) == [live]


def test_row_added_in_admin_is_marked_admin(admin_client):
    admin_client.post(
        reverse("admin:store_category_add"), {"name": "Manual", "description": ""}
    )
    assert Category.objects.get(name="Manual").source == Source.ADMIN
