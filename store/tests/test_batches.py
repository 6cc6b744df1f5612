from decimal import Decimal

import pytest
from django.db.models import ProtectedError

from store.batches import delete_batches
from store.models import DataBatch, Order, OrderItem, Product, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch_product(make_product):
    batch = DataBatch.objects.create(source=Source.IMPORT, kind="orders_csv")
    return batch, make_product(source=Source.IMPORT, batch=batch)


def order_for(customer, product, batch=None):
    order = Order.objects.create(
        customer=customer, total_amount=Decimal("1"), batch=batch
    )
    OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=1)
    return order


def test_delete_batches_counts_rows(batch_product, make_customer):
    batch, product = batch_product
    order_for(make_customer(source=Source.IMPORT, batch=batch), product, batch)
    total, counts = delete_batches(DataBatch.objects.all())
    assert counts == {
        "store.Order": 1,
        "store.OrderItem": 1,
        "store.Product": 1,
        "store.Customer": 1,
        "store.DataBatch": 1,
    }
    assert total == 5


def test_live_order_protects_batch_product(batch_product, make_customer):
    batch, product = batch_product
    order_for(make_customer(), product)
    with pytest.raises(ProtectedError):
        delete_batches(DataBatch.objects.all())
    assert Product.objects.filter(pk=product.pk).exists()
