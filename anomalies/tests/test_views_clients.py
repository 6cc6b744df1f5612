import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from activities.models import UserActivity
from anomalies.models import Finding, Run
from store.models import Customer, Order

URL = reverse("anomalies:clients")
START = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
SCANNER = "192.0.2.66"
CRAWLER = "2001:db8::7"
QUIET = "192.0.2.1"


def event(ip, seconds, path, status, agent):
    return UserActivity(
        timestamp=START + datetime.timedelta(seconds=seconds),
        action_type="view_page",
        ip_address=ip,
        user_agent=agent,
        details={"path": path, "status": status, "method": "GET"},
    )


@pytest.fixture
def traffic(db):
    """Store a scanner, a crawler and a quiet client, and findings on two of them."""
    events = [
        event(SCANNER, 0, "/wp-login.php", 404, "curl/8.0"),
        event(SCANNER, 1, "/.env", 404, "curl/8.0"),
        event(SCANNER, 2, "/wp-login.php", 404, "curl/8.0"),
        event(SCANNER, 3, "/", 200, "Mozilla/5.0 Firefox/115.0"),
        event(CRAWLER, 0, "/a", 200, "Googlebot/2.1"),
        event(CRAWLER, 5, "/b", 200, "Googlebot/2.1"),
        event(QUIET, 0, "/", 200, "Mozilla/5.0 Firefox/115.0"),
    ]
    stored = UserActivity.objects.bulk_create(events)
    runs = {
        name: Run.objects.create(kind="detect", detector=name, entity_type="activity")
        for name in ("iforest", "statistical_zscore")
    }
    findings = [
        (runs["iforest"], stored[0], 90.0),
        (runs["iforest"], stored[1], 80.0),
        (runs["statistical_zscore"], stored[1], 70.0),
        (runs["iforest"], stored[4], 99.0),
    ]
    Finding.objects.bulk_create(
        Finding(
            run=run,
            detector=run.detector,
            entity_type="activity",
            entity_id=row.pk,
            entity_time=row.timestamp,
            raw_score=score / 100,
            score=score,
            severity="high",
        )
        for run, row, score in findings
    )
    return stored


@pytest.fixture
def flagged_order(db):
    customer = Customer.objects.create(email="buyer@example.com")
    order = Order.objects.create(
        customer=customer,
        created_at=START,
        total_amount=Decimal("950.00"),
        external_id="olist:abc",
    )
    run = Run.objects.create(kind="detect", detector="iforest", entity_type="order")
    Finding.objects.create(
        run=run,
        detector="iforest",
        entity_type="order",
        entity_id=order.pk,
        raw_score=0.7,
        score=97.5,
        severity="high",
    )
    return order


@pytest.fixture
def browser(client, reader_user):
    client.force_login(reader_user)
    return client


def clients_of(response):
    return {row["ip"]: row for row in response.context["clients"]}


def test_clients_page_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_clients_empty_state(browser):
    response = browser.get(URL)
    assert response.status_code == 200
    assert "No findings on requests with a client address yet" in (
        response.content.decode()
    )


def test_clients_ranked_by_findings(browser, traffic):
    response = browser.get(URL)
    assert [row["ip"] for row in response.context["clients"]] == [SCANNER, CRAWLER]


def test_clients_ranked_by_score(browser, traffic):
    response = browser.get(URL, {"sort": "score"})
    assert [row["ip"] for row in response.context["clients"]] == [CRAWLER, SCANNER]


def test_unknown_sort_falls_back(browser, traffic):
    response = browser.get(URL, {"sort": "nope"})
    assert response.context["sort"] == "findings"


def test_client_without_findings_left_out(browser, traffic):
    assert QUIET not in clients_of(browser.get(URL))


def test_client_counts(browser, traffic):
    scanner = clients_of(browser.get(URL))[SCANNER]
    assert scanner["findings"] == 3
    assert scanner["flagged_events"] == 2
    assert scanner["max_score"] == 90.0
    assert scanner["detectors"] == ["iforest", "statistical_zscore"]
    assert scanner["flagged_share"] == 0.5


def test_client_traffic_figures(browser, traffic):
    figures = clients_of(browser.get(URL))[SCANNER]["traffic"]
    assert figures["requests"] == 4
    assert figures["status_4xx_share"] == 0.75
    assert figures["distinct_paths"] == 3
    assert figures["login_path_share"] == 0.5
    assert figures["automated_share"] == 0.75


def test_client_top_values(browser, traffic):
    scanner = clients_of(browser.get(URL))[SCANNER]
    assert scanner["agents"][0] == ("curl/8.0", 3)
    assert scanner["paths"][0] == ("/wp-login.php", 2)


def test_ipv6_client_links_to_findings(browser, traffic):
    html = browser.get(URL).content.decode()
    assert "/findings/?ip=2001%3Adb8%3A%3A7" in html


def test_findings_list_filtered_by_client(browser, traffic):
    response = browser.get(reverse("anomalies:finding-list"), {"ip": SCANNER})
    assert response.context["paginator"].count == 3


def test_top_orders_with_customer(browser, flagged_order):
    response = browser.get(URL)
    row = response.context["orders"][0]
    assert row["order"] == flagged_order
    assert "buyer@example.com" in response.content.decode()


def test_query_count_independent_of_clients(
    browser, traffic, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        browser.get(URL)
