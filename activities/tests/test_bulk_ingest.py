import math

import pytest
from django.db import IntegrityError, connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from activities.models import UserActivity
from activities.views import INSERT_BATCH_SIZE

pytestmark = pytest.mark.django_db

URL = "/api/activities/"
BULK_SIZE = 10_000


def expected_inserts():
    """Return how many INSERT statements bulk_create needs for BULK_SIZE rows."""
    fields = [f for f in UserActivity._meta.concrete_fields if not f.primary_key]
    per_statement = min(
        INSERT_BATCH_SIZE, connection.ops.bulk_batch_size(fields, [None] * BULK_SIZE)
    )
    return math.ceil(BULK_SIZE / per_statement)


@pytest.fixture
def bulk_events(make_customer):
    customers = [make_customer().pk for _ in range(50)]
    return [
        {
            "customer_id": customers[index % 50] if index % 3 else None,
            "session_id": f"s{index % 700}",
            "timestamp": f"2025-01-01T00:{index % 60:02d}:{index % 59:02d}Z",
            "action_type": "view_product",
            "details": {"product_id": index % 40},
            "ip_address": f"10.0.{index % 250}.{index % 200}",
            "user_agent": "bench/1.0",
        }
        for index in range(BULK_SIZE)
    ]


def test_bulk_post_stores_ten_thousand(writer_client, bulk_events):
    response = writer_client.post(URL, bulk_events, format="json")
    assert response.status_code == 201
    assert len(response.json()) == BULK_SIZE
    assert UserActivity.objects.count() == BULK_SIZE


def test_bulk_post_uses_one_transaction(writer_client, bulk_events):
    with CaptureQueriesContext(connection) as captured:
        writer_client.post(URL, bulk_events, format="json")
    statements = [query["sql"].lstrip().upper() for query in captured.captured_queries]
    # The test already runs in a transaction, so atomic() opens one savepoint.
    assert sum(sql.startswith("SAVEPOINT") for sql in statements) == 1
    assert sum(sql.startswith("INSERT") for sql in statements) == expected_inserts()


def test_bulk_post_checks_customers_in_few_queries(writer_client, bulk_events):
    with CaptureQueriesContext(connection) as captured:
        writer_client.post(URL, bulk_events, format="json")
    customer_selects = [
        query
        for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
        and "store_customer" in query["sql"]
    ]
    assert len(customer_selects) == 1


def test_bulk_post_last_event_bad_stores_none(writer_client, bulk_events):
    bulk_events[-1]["ip_address"] = "not-an-ip"
    response = writer_client.post(URL, bulk_events, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [str(BULK_SIZE - 1)]
    assert UserActivity.objects.count() == 0


def test_insert_failure_midway_stores_none(writer_client, bulk_events, monkeypatch):
    real_bulk_create = QuerySet.bulk_create

    def fail_after_first_half(self, objs, *args, **kwargs):
        real_bulk_create(self, objs[: len(objs) // 2], *args, **kwargs)
        raise IntegrityError("simulated failure after a partial insert")

    monkeypatch.setattr(QuerySet, "bulk_create", fail_after_first_half)
    response = writer_client.post(URL, bulk_events, format="json")
    assert response.status_code == 409
    assert UserActivity.objects.count() == 0
