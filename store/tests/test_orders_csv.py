"""Tests for the order CSV importer and its olist, uci and generic presets."""

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from store.models import Customer, DataBatch, Order, OrderItem, Product

FIXTURES = Path(__file__).parent / "fixtures"
GENERIC_MAP = (
    "order_id=Order,customer=Buyer,email=Mail,created_at=Date,product=SKU,"
    "quantity=Qty,unit_price=Price,total=Total"
)


def run_import(*args):
    out = StringIO()
    call_command("import_orders_csv", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def olist_import(db):
    return run_import("--preset", "olist", FIXTURES / "olist")


@pytest.fixture
def uci_import(db):
    return run_import("--preset", "uci", FIXTURES / "uci.csv")


def test_olist_counts(olist_import):
    batch = DataBatch.objects.get(kind="orders_csv")
    assert batch.stats["orders"] == 3
    assert batch.stats["items"] == 4
    assert Customer.objects.count() == 2
    assert Product.objects.count() == 3


def test_olist_total_is_payments_sum(olist_import):
    assert Order.objects.get(external_id="olist:o1").total_amount == Decimal("33.25")


def test_olist_total_without_payments_is_items_and_freight(olist_import):
    assert Order.objects.get(external_id="olist:o5").total_amount == Decimal("8.00")


def test_olist_quantity_counts_item_rows(olist_import):
    item = OrderItem.objects.get(
        order__external_id="olist:o1", product__external_id="olist:p1"
    )
    assert item.quantity == 2
    assert item.unit_price == Decimal("10.00")


@pytest.mark.parametrize(
    ("order", "status"),
    [("olist:o1", "delivered"), ("olist:o2", "cancelled"), ("olist:o5", "processing")],
)
def test_olist_status_mapping(olist_import, order, status):
    assert Order.objects.get(external_id=order).status == status


def test_olist_local_time_to_utc(olist_import):
    # 2018-02-17 23:30 happened twice in Sao Paulo; standard time (-03:00) is used.
    order = Order.objects.get(external_id="olist:o5")
    assert order.created_at == datetime(2018, 2, 18, 2, 30, tzinfo=UTC)


def test_olist_customer_is_unique_id_with_synthetic_email(olist_import):
    customer = Customer.objects.get(external_id="olist:u1")
    assert customer.email == "olist-u1@customers.import.invalid"
    assert customer.orders.count() == 2


@pytest.mark.parametrize(
    "reason",
    [
        "invalid order_purchase_timestamp",
        "invalid price or freight_value",
        "order has no items",
        "order_id not found in the orders file (or that order was rejected)",
    ],
)
def test_olist_bad_rows_reported(olist_import, reason):
    assert DataBatch.objects.get().stats["skipped_by_reason"][reason] == 1


def test_olist_bad_row_line_number(olist_import):
    assert (
        "olist_orders_dataset.csv line 4: invalid order_purchase_timestamp"
        in olist_import
    )


def test_olist_accepts_file_paths(db):
    run_import("--preset", "olist", *sorted((FIXTURES / "olist").glob("*.csv")))
    assert Order.objects.count() == 3


def test_olist_missing_file(db, tmp_path):
    shutil.copy(FIXTURES / "olist" / "olist_orders_dataset.csv", tmp_path)
    with pytest.raises(CommandError, match="missing file"):
        run_import("--preset", "olist", tmp_path)


def test_reimport_adds_nothing(olist_import):
    output = run_import("--preset", "olist", FIXTURES / "olist")
    assert "already imported as batch" in output
    assert Order.objects.count() == 3


def test_overlapping_export_adds_only_new_orders(olist_import, tmp_path):
    folder = tmp_path / "olist"
    shutil.copytree(FIXTURES / "olist", folder)
    with (folder / "olist_orders_dataset.csv").open("a") as orders:
        orders.write("o6,c2,delivered,2018-03-06 10:00:00,,,,\n")
    with (folder / "olist_order_items_dataset.csv").open("a") as items:
        items.write("o6,1,p1,s1,2018-03-07 00:00:00,10.00,1.00\n")
    run_import("--preset", "olist", folder)
    assert Order.objects.count() == 4
    assert DataBatch.objects.order_by("pk").last().stats["orders_already_stored"] == 3


def test_remove_batch(olist_import):
    batch = DataBatch.objects.get()
    run_import("--remove-batch", batch.pk)
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not Product.objects.exists()


def test_uci_counts(uci_import):
    assert Order.objects.count() == 4
    assert DataBatch.objects.get().stats["rows_skipped"] == 3


def test_uci_float_customer_id(uci_import):
    assert (
        Order.objects.get(external_id="uci:536365").customer.external_id == "uci:17850"
    )


def test_uci_repeated_line_merged(uci_import):
    item = OrderItem.objects.get(
        order__external_id="uci:536365", product__external_id="uci:71053"
    )
    assert item.quantity == 8


def test_uci_total_is_line_sum(uci_import):
    assert Order.objects.get(external_id="uci:536365").total_amount == Decimal("42.42")


def test_uci_cancellation(uci_import):
    order = Order.objects.get(external_id="uci:C536379")
    assert order.status == "cancelled"
    assert order.items.get().quantity == 1


def test_uci_missing_customer_is_guest_per_invoice(uci_import):
    first = Order.objects.get(external_id="uci:536380").customer
    second = Order.objects.get(external_id="uci:536381").customer
    assert first.external_id == "uci:guest-536380"
    assert first != second


@pytest.mark.parametrize(
    "reason",
    [
        "quantity is not a whole number",
        "negative unit price",
        "invalid or missing date",
    ],
)
def test_uci_bad_rows_reported(uci_import, reason):
    assert DataBatch.objects.get().stats["skipped_by_reason"][reason] == 1


def test_generic_mapping(db):
    run_import("--preset", "generic", "--map", GENERIC_MAP, FIXTURES / "generic.csv")
    order = Order.objects.get(external_id="generic:A-1")
    assert order.total_amount == Decimal("21.48")
    assert order.created_at == datetime(2024, 1, 5, 9, 0, tzinfo=UTC)
    assert order.customer.email == "b1@example.com"
    assert order.items.count() == 2


def test_generic_mapping_file(db, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "order_id": "Order",
                "created_at": "Date",
                "product": "SKU",
                "quantity": "Qty",
                "unit_price": "Price",
            }
        )
    )
    run_import("--preset", "generic", "--map", mapping, FIXTURES / "generic.csv")
    assert Order.objects.get(external_id="generic:A-2").total_amount == Decimal("9.99")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("order_id=Order", "lacks required field"),
        ("order_id=Order,colour=Red", "Unknown mapping field"),
        ("order_id", "Invalid --map entry"),
        (GENERIC_MAP.replace("Qty", "Quantity"), "missing column"),
    ],
)
def test_generic_mapping_errors(db, mapping, message):
    with pytest.raises(CommandError, match=message):
        run_import("--preset", "generic", "--map", mapping, FIXTURES / "generic.csv")
    assert not DataBatch.objects.exists()


def test_missing_preset(db):
    with pytest.raises(CommandError, match="Missing --preset"):
        run_import(FIXTURES / "uci.csv")
