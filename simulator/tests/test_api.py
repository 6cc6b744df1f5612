"""The generate endpoint, the run endpoint and the staff page."""

import time

import pytest
from django.db import connections
from django.urls import reverse
from django_q.brokers import get_broker
from django_q.cluster import Cluster
from django_q.conf import Conf

from activities.models import UserActivity
from simulator.models import AnomalyLabel, SimulationRun
from store.models import Customer

GENERATE = "/api/simulator/generate"
OLD_BODY = {
    "config": {
        "num_customers": 100,
        "num_products": 50,
        "num_orders": 200,
        "num_activities": 1000,
        "order_anomaly_rate": 0.05,
        "activity_anomaly_rate": 0.05,
    }
}
LARGE_BODY = {
    "customers": 200,
    "products": 50,
    "orders": 400,
    "activities": 30_000,
    "seed": 5,
}


def test_generate_accepts_old_body(staff_client):
    response = staff_client.post(GENERATE, OLD_BODY, format="json")
    assert response.status_code == 201
    assert response.data["counts"]["activities"] == 1000
    assert UserActivity.objects.count() == 1000


def test_generate_accepts_flat_body(staff_client):
    response = staff_client.post(GENERATE, OLD_BODY["config"], format="json")
    assert response.status_code == 201
    assert response.data["orders"] == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"num_customers": -3}, "customers"),
        ({"activity_anomaly_rate": 2}, "activity_anomaly_rate"),
        ({"kinds": ["meteor"]}, "kinds"),
        ({"locale": "xx_XX"}, "locale"),
        ({"num_orders": "many"}, "num_orders"),
        ({"colour": "red"}, "colour"),
        ({"config": "all"}, "config"),
    ],
)
def test_generate_rejects_bad_input(staff_client, body, field):
    response = staff_client.post(GENERATE, body, format="json")
    assert response.status_code == 400
    assert field in response.data
    assert Customer.objects.count() == 0


def test_generate_forbids_non_staff(reader_client):
    response = reader_client.post(GENERATE, OLD_BODY, format="json")
    assert response.status_code == 403


def test_generate_requires_login(api_client):
    response = api_client.post(GENERATE, OLD_BODY, format="json")
    assert response.status_code in (401, 403)


def test_large_request_queues_task_sync(staff_client, monkeypatch, settings):
    # Sync mode runs the task inside async_task; the queue itself is the point
    # of the cluster test below.
    settings.SIMULATOR_INLINE_MAX_ROWS = 1_000
    monkeypatch.setattr(Conf, "SYNC", True)
    response = staff_client.post(GENERATE, LARGE_BODY, format="json")
    run = SimulationRun.objects.get()
    assert response.status_code == 202
    assert response["Location"].endswith(f"/api/simulator/runs/{run.pk}/")
    assert run.status == SimulationRun.Status.SUCCEEDED
    assert run.result["counts"]["activities"] == 30_000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_large_request_runs_on_cluster(staff_client, settings):
    settings.SIMULATOR_INLINE_MAX_ROWS = 1_000
    response = staff_client.post(GENERATE, LARGE_BODY, format="json")
    assert response.status_code == 202
    assert response.data["status"] == "queued"
    # Forked workers must not share this process's database connection.
    connections.close_all()
    cluster = Cluster(get_broker())
    cluster.start()
    # Drop any connection the parent opened while the cluster forked.
    connections.close_all()
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            status = staff_client.get(response["Location"]).data
            if status["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
    finally:
        cluster.stop()
    assert status["status"] == "succeeded", status["error"]
    assert status["progress"] == 1.0
    assert UserActivity.objects.count() == 30_000
    assert AnomalyLabel.objects.exists()


def test_run_detail_forbids_non_staff(reader_client, staff_user):
    run = SimulationRun.objects.create(config={})
    response = reader_client.get(f"/api/simulator/runs/{run.pk}/")
    assert response.status_code == 403


@pytest.fixture
def staff_browser(client, staff_user):
    client.force_login(staff_user)
    return client


def test_page_shows_form(staff_browser):
    response = staff_browser.get(reverse("simulator:page"))
    assert response.status_code == 200
    assert b'name="activities"' in response.content


def test_page_forbids_non_staff(client, reader_user):
    client.force_login(reader_user)
    assert client.get(reverse("simulator:page")).status_code == 403


def test_page_runs_small_simulation(staff_browser):
    form = {
        "customers": 100,
        "products": 40,
        "orders": 100,
        "activities": 1_000,
        "order_anomaly_rate": 0.05,
        "activity_anomaly_rate": 0.05,
        "days": 7,
        "locale": "ru_RU",
    }
    response = staff_browser.post(reverse("simulator:page"), form, follow=True)
    assert response.status_code == 200
    assert response.context["run"].status == SimulationRun.Status.SUCCEEDED
    assert b"1000" in response.content or b"1,000" in response.content


def test_page_reports_bad_input(staff_browser):
    response = staff_browser.post(
        reverse("simulator:page"), {"customers": -1, "locale": "ru_RU"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["customers"]


def test_running_page_refreshes(staff_browser):
    run = SimulationRun.objects.create(config={}, status="running", progress=0.4)
    response = staff_browser.get(reverse("simulator:run", args=[run.pk]))
    assert b'http-equiv="refresh"' in response.content
    assert b'aria-valuenow="40"' in response.content


def test_finished_page_stops_refreshing(staff_browser):
    run = SimulationRun.objects.create(config={}, status="succeeded", progress=1.0)
    response = staff_browser.get(reverse("simulator:run", args=[run.pk]))
    assert b'http-equiv="refresh"' not in response.content


def test_finished_page_links_train_and_detect(staff_browser):
    run = SimulationRun.objects.create(config={}, status="succeeded", progress=1.0)
    response = staff_browser.get(reverse("simulator:run", args=[run.pk]))
    assert f'href="{reverse("anomalies:run-new")}"'.encode() in response.content


def test_page_links_train_and_detect(staff_browser):
    SimulationRun.objects.create(config={}, status="succeeded", progress=1.0)
    response = staff_browser.get(reverse("simulator:page"))
    assert f'href="{reverse("anomalies:run-new")}"'.encode() in response.content
