"""Tests of API throttles, failed-login limits and request body limits."""

import json

import pytest
import redis
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from store.views import ProductViewSet

PRODUCTS = "/api/store/products/"


@pytest.fixture
def rates(monkeypatch):
    """Set small throttle rates, so a test reaches them in a few requests.

    DRF reads the rates into a class attribute when rest_framework.throttling
    is imported, so they are patched there rather than in settings.
    """

    def set_rates(anon="2/minute", user="3/minute"):
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {"anon": anon, "user": user}
        )

    return set_rates


@pytest.mark.django_db
def test_anonymous_api_requests_are_throttled(rates, api_client):
    rates(anon="2/minute")
    statuses = [api_client.get(PRODUCTS).status_code for _ in range(3)]
    assert statuses[:2] == [401, 401]
    assert statuses[2] == 429


@pytest.mark.django_db
def test_anonymous_throttle_message_and_retry_after(rates, api_client):
    rates(anon="1/minute")
    api_client.get(PRODUCTS)
    response = api_client.get(PRODUCTS)
    assert "1/minute" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.django_db
def test_anonymous_throttle_leaves_pages_alone(rates, client):
    rates(anon="1/minute")
    statuses = [client.get("/findings/").status_code for _ in range(3)]
    assert statuses == [302, 302, 302]


@pytest.mark.django_db
def test_token_client_is_throttled(rates, token_client):
    rates(user="3/minute")
    statuses = [token_client.get(PRODUCTS).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429


@pytest.mark.django_db
def test_session_user_is_throttled(rates, reader_user):
    rates(user="2/minute")
    client = Client()
    client.force_login(reader_user)
    statuses = [client.get(PRODUCTS).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.django_db
def test_token_clients_do_not_share_the_anonymous_rate(rates, token_client, api_client):
    rates(anon="1/minute", user="100/minute")
    api_client.get(PRODUCTS)
    assert token_client.get(PRODUCTS).status_code == 200


def test_configured_rates_reach_drf(settings):
    configured = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert SimpleRateThrottle.THROTTLE_RATES == configured


@pytest.mark.django_db
def test_browsable_api_login_is_not_throttled(rates, client):
    rates(anon="1/minute")
    statuses = [client.get("/api/auth/login/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


def test_redis_cache_when_redis_url_is_set(settings):
    backend = settings.CACHES["default"]["BACKEND"]
    expected = "redis.RedisCache" if settings.REDIS_URL else "locmem.LocMemCache"
    assert backend.endswith(expected)


LOGIN_FORMS = [
    ("/accounts/login/", 429),
    ("/admin/login/", 200),
    ("/api/auth/login/", 429),
]


@pytest.fixture
def login_limit(settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600


def post_login(client, path, username, password):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.django_db
@pytest.mark.parametrize("path,locked_status", LOGIN_FORMS)
def test_login_locks_after_failures(login_limit, staff_user, path, locked_status):
    client = Client()
    for _ in range(3):
        post_login(client, path, "staff", "wrong")
    response = post_login(client, path, "staff", "staff-pass-123")
    assert response.status_code == locked_status
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("path,_locked_status", LOGIN_FORMS)
def test_login_works_below_the_limit(login_limit, staff_user, path, _locked_status):
    client = Client()
    for _ in range(2):
        post_login(client, path, "staff", "wrong")
    response = post_login(client, path, "staff", "staff-pass-123")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


@pytest.mark.django_db
def test_success_resets_failure_count(login_limit, staff_user):
    client = Client()
    for _ in range(2):
        post_login(client, "/accounts/login/", "staff", "wrong")
    post_login(client, "/accounts/login/", "staff", "staff-pass-123")
    client.logout()
    for _ in range(2):
        post_login(client, "/accounts/login/", "staff", "wrong")
    response = post_login(client, "/accounts/login/", "staff", "staff-pass-123")
    assert response.status_code == 302


@pytest.mark.django_db
def test_lock_is_per_client_address(login_limit, staff_user):
    for _ in range(3):
        post_login(Client(REMOTE_ADDR="203.0.113.9"), "/accounts/login/", "staff", "x")
    other = Client(REMOTE_ADDR="198.51.100.7")
    response = post_login(other, "/accounts/login/", "staff", "staff-pass-123")
    assert response.status_code == 302


@pytest.mark.django_db
def test_address_locked_across_user_names(login_limit, staff_user):
    client = Client()
    for index in range(12):
        post_login(client, "/accounts/login/", f"guess{index}", "x")
    response = post_login(client, "/accounts/login/", "staff", "staff-pass-123")
    assert response.status_code == 429


@pytest.mark.django_db
def test_json_body_over_limit_is_rejected(settings, writer_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    events = [{"action_type": "view_page", "session_id": "s" * 40}] * 40
    response = writer_client.post(
        "/api/activities/", json.dumps(events), content_type="application/json"
    )
    assert response.status_code == 413
    assert "limit is 1024 bytes" in response.json()["detail"]


@pytest.mark.django_db
def test_json_body_over_limit_stores_nothing(settings, writer_client):
    from activities.models import UserActivity

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    events = [{"action_type": "view_page", "session_id": "s" * 40}] * 40
    writer_client.post(
        "/api/activities/", json.dumps(events), content_type="application/json"
    )
    assert UserActivity.objects.count() == 0


@pytest.mark.django_db
def test_file_upload_over_limit_is_rejected(settings, staff_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MAX_UPLOAD_BYTES = 2048
    client = Client()
    client.force_login(staff_user)
    upload = SimpleUploadedFile("access.log", b"x" * 4096)
    response = client.post(reverse("anomalies:settings"), {"file": upload})
    assert response.status_code == 413
    assert "limit is 2048 bytes" in response.content.decode()


@pytest.mark.django_db
def test_body_within_limit_is_accepted(settings, writer_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    response = writer_client.post(
        "/api/activities/",
        [{"action_type": "view_page", "session_id": "s1"}],
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/activities/", "/api/anomalies/detect"])
def test_deeply_nested_json_is_rejected(staff_client, path):
    body = "[" * 100_000 + "]" * 100_000

    response = staff_client.post(path, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "service"),
    [
        (OperationalError("connection refused"), "database"),
        (redis.ConnectionError("Error 111 connecting"), "Redis"),
    ],
)
def test_unavailable_service_gives_json_503(staff_client, monkeypatch, error, service):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ProductViewSet, "list", fail)

    response = staff_client.get("/api/store/products/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert f"The {service} is unavailable" in response.json()["detail"]
