"""Import the shared Olist slice, when the shared data folder is present."""

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import F, Sum

from store.models import DataBatch, Order, OrderItem

# ANOMALENS_REAL_DATA: folder of third-party sample data. Default: shared/data
# beside the repository folder.
REAL_DATA = Path(
    os.environ.get(
        "ANOMALENS_REAL_DATA",
        Path(__file__).resolve().parents[2].parent / "shared" / "data",
    )
)
OLIST = REAL_DATA / "orders" / "olist-sample"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (OLIST / "olist_orders_dataset.csv").is_file(),
        reason=f"real data not found at {OLIST}; set ANOMALENS_REAL_DATA",
    ),
]


@pytest.fixture
def olist_batch(db):
    call_command(
        "import_orders_csv", "--preset", "olist", str(OLIST), stdout=StringIO()
    )
    return DataBatch.objects.get(kind="orders_csv")


def test_real_olist_all_orders_imported(olist_batch):
    assert olist_batch.stats["orders"] == 10_000
    assert olist_batch.stats["rows_skipped"] == 0


def test_real_olist_items_match_file(olist_batch):
    quantity = OrderItem.objects.aggregate(total=Sum("quantity"))["total"]
    assert quantity == 11_513


def test_real_olist_totals_positive(olist_batch):
    assert not Order.objects.filter(total_amount__lte=0).exists()


def test_real_olist_few_totals_differ_from_items(olist_batch):
    # Olist's payments include freight; about 20 orders differ from items plus
    # freight by more than 1 BRL in this slice.
    items = (
        OrderItem.objects.values("order_id")
        .annotate(value=Sum(F("unit_price") * F("quantity")))
        .filter(value__gt=F("order__total_amount") + 1)
    )
    assert items.count() < 100
