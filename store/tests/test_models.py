from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from store.models import (
    Category,
    Customer,
    DataBatch,
    Order,
    OrderItem,
    Product,
    Source,
)


@pytest.mark.django_db
def test_category_name_is_unique(make_category):
    make_category(name="Shoes")
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="Shoes")


@pytest.mark.django_db
def test_customer_email_is_unique(make_customer):
    make_customer(email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(email="a@example.com")


@pytest.mark.django_db
def test_rows_default_to_api_source(make_category):
    assert make_category().source == Source.API


@pytest.mark.django_db
def test_order_item_line_total_is_decimal(make_customer, make_product):
    order = Order.objects.create(customer=make_customer(), total_amount=Decimal("0"))
    item = OrderItem.objects.create(
        order=order, product=make_product(price="2.10"), quantity=3, unit_price="2.10"
    )
    item.refresh_from_db()
    assert item.line_total == Decimal("6.30")


@pytest.mark.django_db
def test_customer_str_prefers_full_name(make_customer):
    assert str(make_customer(first_name="Ada", last_name="Lovelace")) == "Ada Lovelace"


@pytest.mark.django_db
def test_customer_str_falls_back_to_email(make_customer):
    assert str(make_customer(email="x@example.com")) == "x@example.com"


@pytest.mark.django_db
def test_deleting_batch_removes_its_rows(make_category):
    batch = DataBatch.objects.create(source=Source.SIMULATOR, kind="simulation")
    make_category(name="Simulated", source=Source.SIMULATOR, batch=batch)
    make_category(name="Live")
    batch.delete()
    assert list(Category.objects.values_list("name", flat=True)) == ["Live"]


@pytest.mark.django_db
def test_imported_product_external_id_is_unique(make_product):
    make_product(external_id="SKU-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_product(external_id="SKU-1")


@pytest.mark.django_db
def test_blank_external_ids_may_repeat(make_product):
    make_product(external_id="")
    make_product(external_id="")
    assert Product.objects.count() == 2
