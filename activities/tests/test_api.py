import datetime

import pytest
from django.utils import timezone

from activities.models import UserActivity
from store.models import Source

pytestmark = pytest.mark.django_db

URL = "/api/activities/"


@pytest.fixture
def make_event(db):
    def make(action_type="view_page", **fields):
        return UserActivity.objects.create(action_type=action_type, **fields)

    return make


def test_post_one_event(writer_client, make_customer):
    customer = make_customer()
    response = writer_client.post(
        URL,
        {
            "customer_id": customer.pk,
            "session_id": "s1",
            "timestamp": "2025-03-01T10:00:00Z",
            "action_type": "search",
            "details": {"query": "shoes"},
            "ip_address": "203.0.113.5",
            "user_agent": "Mozilla/5.0",
        },
        format="json",
    )
    assert response.status_code == 201
    event = UserActivity.objects.get(pk=response.json()["id"])
    assert event.details == {"query": "shoes"}
    assert event.source == Source.API
    assert event.timestamp == datetime.datetime(2025, 3, 1, 10, tzinfo=datetime.UTC)


def test_post_defaults_timestamp_to_now(writer_client):
    before = timezone.now()
    response = writer_client.post(URL, {"action_type": "view_page"}, format="json")
    stored = UserActivity.objects.get(pk=response.json()["id"]).timestamp
    assert before <= stored <= timezone.now()


def test_post_reads_naive_timestamp_as_utc(writer_client):
    response = writer_client.post(
        URL,
        {"action_type": "login", "timestamp": "2025-03-01T10:00:00"},
        format="json",
    )
    assert response.json()["timestamp"] == "2025-03-01T10:00:00Z"


def test_post_normalises_ipv6(writer_client):
    response = writer_client.post(
        URL,
        {"action_type": "login", "ip_address": "2001:DB8:0:0:0:0:0:1"},
        format="json",
    )
    assert response.json()["ip_address"] == "2001:db8::1"


@pytest.mark.parametrize(
    ("body", "field", "fragments"),
    [
        ({"action_type": "dance"}, "action_type", ["dance", "view_page"]),
        ({}, "action_type", ["required"]),
        ({"action_type": "login", "ip_address": "300.1.1.1"}, "ip_address", ["300"]),
        ({"action_type": "login", "timestamp": "tomorrow"}, "timestamp", ["tomorrow"]),
        ({"action_type": "login", "customer_id": "ada"}, "customer_id", ["ada"]),
        ({"action_type": "login", "customer_id": 2**64}, "customer_id", ["less than"]),
        ({"action_type": "login", "customer_id": 999}, "customer_id", ["999"]),
        ({"action_type": "login", "details": [1, 2]}, "details", ["JSON object"]),
        ({"action_type": "login", "timestmp": "x"}, "timestmp", ["Unknown field"]),
        (
            {"action_type": "login", "timestamp": "9999-12-31T23:59:59Z"},
            "timestamp",
            ["9999-12-31", "1970-01-01"],
        ),
        (
            {"action_type": "login", "timestamp": "1900-01-01T00:00:00Z"},
            "timestamp",
            ["1900-01-01"],
        ),
        (
            {"action_type": "search", "details": {"query": ["ok", "a\x00b"]}},
            "details",
            ["details['query'][1]", "NUL"],
        ),
    ],
)
def test_post_bad_event_is_400(writer_client, body, field, fragments):
    response = writer_client.post(URL, body, format="json")
    assert response.status_code == 400
    message = " ".join(response.json()[field])
    for fragment in fragments:
        assert fragment in message
    assert UserActivity.objects.count() == 0


def test_post_list_stores_all(writer_client, make_customer):
    customer = make_customer()
    events = [
        {"customer_id": customer.pk, "action_type": "login", "session_id": "s"},
        {"action_type": "view_product", "details": {"product_id": 2}},
    ]
    response = writer_client.post(URL, events, format="json")
    assert response.status_code == 201
    assert [row["action_type"] for row in response.json()] == ["login", "view_product"]
    assert UserActivity.objects.filter(source=Source.API).count() == 2


@pytest.mark.parametrize(
    ("bad_event", "field"),
    [
        ({"action_type": "dance"}, "action_type"),
        ({"action_type": "login", "customer_id": 424242}, "customer_id"),
        ("login", "non_field_errors"),
    ],
)
def test_post_list_with_bad_event_stores_none(writer_client, bad_event, field):
    events = [{"action_type": "login"}] * 3 + [bad_event, {"action_type": "logout"}]
    response = writer_client.post(URL, events, format="json")
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == ["3"]
    assert field in body["errors"]["3"]
    assert "index 3" in body["detail"]
    assert UserActivity.objects.count() == 0


def test_post_empty_list_is_400(writer_client):
    response = writer_client.post(URL, [], format="json")
    assert response.status_code == 400


def test_post_too_many_events_is_400(writer_client):
    response = writer_client.post(
        URL, [{"action_type": "login"}] * 10_001, format="json"
    )
    assert response.status_code == 400
    assert "10001" in response.json()["non_field_errors"][0]


def test_error_report_is_capped(writer_client):
    response = writer_client.post(URL, [{"action_type": "x"}] * 500, format="json")
    body = response.json()
    assert body["invalid_count"] == 500
    assert len(body["errors"]) == 100


# Reading and filtering.


def test_retrieve_event(reader_client, make_event):
    event = make_event(session_id="abc")
    body = reader_client.get(f"{URL}{event.pk}/").json()
    assert body["session_id"] == "abc"


def test_list_is_newest_first(reader_client, make_event):
    now = timezone.now()
    old = make_event(timestamp=now - datetime.timedelta(hours=1))
    new = make_event(timestamp=now)
    ids = [row["id"] for row in reader_client.get(URL).json()["results"]]
    assert ids == [new.pk, old.pk]


@pytest.fixture
def events_for_filtering(make_event, make_customer):
    customer = make_customer()
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    make_event(
        "login",
        customer=customer,
        ip_address="10.0.0.1",
        session_id="a",
        timestamp=base,
    )
    make_event(
        "failed_login",
        ip_address="10.0.0.2",
        session_id="b",
        timestamp=base + datetime.timedelta(hours=1),
    )
    make_event(
        "search",
        customer=customer,
        ip_address="2001:db8::1",
        session_id="a",
        timestamp=base + datetime.timedelta(hours=2),
    )
    return customer


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action_type=failed_login", ["failed_login"]),
        ("ip_address=10.0.0.1", ["login"]),
        ("ip_address=2001:db8::1", ["search"]),
        ("session_id=a", ["search", "login"]),
        ("anonymous=true", ["failed_login"]),
        ("start_time=2025-01-01T01:00:00Z", ["search", "failed_login"]),
        ("end_time=2025-01-01T01:00:00%2B00:00", ["failed_login", "login"]),
        (
            "start_time=2025-01-01T00:30:00Z&end_time=2025-01-01T01:30:00Z",
            ["failed_login"],
        ),
        ("ordering=timestamp&session_id=a", ["login", "search"]),
    ],
)
def test_list_filters(reader_client, events_for_filtering, query, expected):
    body = reader_client.get(f"{URL}?{query}").json()
    assert [row["action_type"] for row in body["results"]] == expected


def test_list_filters_by_customer(reader_client, events_for_filtering):
    body = reader_client.get(f"{URL}?customer_id={events_for_filtering.pk}").json()
    assert body["count"] == 2


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ("action_typ=login", "action_typ", "action_type"),
        ("action_type=dance", "action_type", "view_page"),
        ("ip_address=10.0.0", "ip_address", "10.0.0"),
        ("start_time=01/02/2025", "start_time", "ISO 8601"),
        ("end_time=2025-13-01T00:00:00Z", "end_time", "2025-13-01"),
        ("customer_id=abc", "customer_id", "abc"),
        (
            "start_time=2025-02-01T00:00:00Z&end_time=2025-01-01T00:00:00Z",
            "end_time",
            "before start_time",
        ),
        ("ordering=ip_address", "ordering", "timestamp"),
        ("limit=20000", "limit", "10000"),
        ("offset=18446744073709551616", "offset", "9223372036854775807"),
    ],
)
def test_list_bad_query_is_400(reader_client, query, field, fragment):
    response = reader_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert fragment in " ".join(response.json()[field])


@pytest.mark.parametrize(
    "path", ["99999999999999999999999/", "424242/", "abc/", "1/context/session_history"]
)
def test_missing_event_is_404(reader_client, path):
    assert reader_client.get(f"{URL}{path}").status_code == 404


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_events_are_append_only(staff_client, make_event, method):
    event = make_event()
    response = getattr(staff_client, method)(f"{URL}{event.pk}/", {}, format="json")
    assert response.status_code == 405


# Session history.


@pytest.fixture
def session_events(make_event):
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    third = make_event(
        "purchase", session_id="s", timestamp=base + datetime.timedelta(3)
    )
    first = make_event("login", session_id="s", timestamp=base)
    second = make_event(
        "search", session_id="s", timestamp=base + datetime.timedelta(1)
    )
    make_event("login", session_id="other", timestamp=base)
    return first, second, third


@pytest.mark.parametrize(
    "suffix", ["context/session_history", "context/session_history/"]
)
def test_session_history_is_other_events_in_order(
    reader_client, session_events, suffix
):
    _first, second, _third = session_events
    body = reader_client.get(f"{URL}{second.pk}/{suffix}").json()
    assert [row["action_type"] for row in body["results"]] == ["login", "purchase"]


def test_session_history_filters_and_paginates(reader_client, session_events):
    first, _second, _third = session_events
    body = reader_client.get(
        f"{URL}{first.pk}/context/session_history?action_type=purchase&limit=1"
    ).json()
    assert [row["action_type"] for row in body["results"]] == ["purchase"]


def test_session_history_without_session_is_empty(reader_client, make_event):
    make_event(session_id="")
    event = make_event(session_id="")
    body = reader_client.get(f"{URL}{event.pk}/context/session_history").json()
    assert body["count"] == 0


def test_session_history_rejects_unknown_parameter(reader_client, session_events):
    first = session_events[0]
    response = reader_client.get(f"{URL}{first.pk}/context/session_history?sesion=x")
    assert response.status_code == 400
