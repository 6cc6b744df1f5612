"""Tests of the shared filter backend on values every database must accept."""

import pytest

CUSTOMERS = "/api/store/customers/"


@pytest.mark.django_db
def test_large_utc_offset_is_accepted(reader_client, make_customer):
    make_customer()
    # PostgreSQL rejects offsets past 15:59 unless the value is converted first.
    response = reader_client.get(
        CUSTOMERS, {"created_after": "2000-11-21T19:13:58-19:26"}
    )
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.django_db
def test_offset_past_datetime_range_is_400(reader_client):
    response = reader_client.get(
        CUSTOMERS, {"created_before": "9999-12-31T23:00:00-19:00"}
    )
    assert response.status_code == 400
    message = response.json()["created_before"][0]
    assert "'9999-12-31T23:00:00-19:00'" in message
    assert "out of range in UTC" in message
