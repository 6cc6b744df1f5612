"""Tests of the HTML pages: access, empty states, content, filters and forms."""
# ruff: noqa: F811  (pytest fixtures imported by name are redefined as arguments)

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from activities.models import ActionType, UserActivity
from anomalies.features import feature_names
from anomalies.models import DetectorSettings, Finding, Run, Severity, TrainedModel
from anomalies.tests.pages_data import (  # noqa: F401
    ATTACKER_IP,
    fast_password_hasher,
    reader_browser,
    shop,
    staff_browser,
)
from store.models import EntityType, Order, OrderItem, Product

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

LIST_PAGES = [
    "anomalies:dashboard",
    "anomalies:finding-list",
    "anomalies:run-list",
    "anomalies:run-new",
    "anomalies:evaluation",
    "anomalies:features",
    "anomalies:settings",
]
DETAIL_PAGES = ["anomalies:finding-detail", "anomalies:run-detail"]

EMPTY_STATES = {
    "anomalies:dashboard": "No findings yet: run detection.",
    "anomalies:finding-list": "No findings yet: run detection.",
    "anomalies:run-list": "No runs yet: train the detectors, then run detection.",
    "anomalies:evaluation": "No labelled data",
}


def page_html(response):
    return response.content.decode()


@pytest.mark.parametrize("name", LIST_PAGES)
def test_list_page_redirects_anonymous(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", DETAIL_PAGES)
def test_detail_page_redirects_anonymous(client, name):
    response = client.get(reverse(name, args=[1]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_review_redirects_anonymous(client):
    response = client.post(reverse("anomalies:finding-review", args=[1]))
    assert response.status_code == 302


@pytest.mark.parametrize("name", LIST_PAGES)
@pytest.mark.parametrize("who", ["reader_browser", "staff_browser"])
def test_list_page_empty_database(request, name, who):
    response = request.getfixturevalue(who).get(reverse(name))
    assert response.status_code == 200
    if name in EMPTY_STATES:
        assert EMPTY_STATES[name] in page_html(response)


@pytest.mark.parametrize("name", DETAIL_PAGES)
def test_detail_page_missing_row_404(reader_browser, name):
    response = reader_browser.get(reverse(name, args=[999_999]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", LIST_PAGES)
@pytest.mark.parametrize("who", ["reader_browser", "staff_browser"])
def test_list_page_with_findings(request, shop, name, who):
    response = request.getfixturevalue(who).get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name,key",
    [
        ("anomalies:finding-detail", "burst_finding"),
        ("anomalies:finding-detail", "order_finding"),
        ("anomalies:run-detail", "detect_run"),
        ("anomalies:run-detail", "running_run"),
        ("anomalies:run-detail", "failed_run"),
        ("anomalies:run-detail", "train_run"),
    ],
)
@pytest.mark.parametrize("who", ["reader_browser", "staff_browser"])
def test_detail_page_with_findings(request, shop, name, key, who):
    response = request.getfixturevalue(who).get(reverse(name, args=[shop[key].pk]))
    assert response.status_code == 200


def test_pages_link_stylesheet_only_locally(staff_browser, shop):
    html = page_html(staff_browser.get(reverse("anomalies:dashboard")))
    assert "/static/anomalens/site.css" in html
    assert "<script" not in html
    assert "https://" not in html.split("<body", 1)[0]


def test_dashboard_shows_counts_with_separators(staff_browser, shop):
    html = page_html(staff_browser.get(reverse("anomalies:dashboard")))
    assert '<span class="stat-value">11</span>' in html
    assert "Activity events" in html


def test_dashboard_severity_table(staff_browser, shop):
    response = staff_browser.get(reverse("anomalies:dashboard"))
    table = {row["detector"]: row for row in response.context["severity_table"]}
    assert table["statistical_zscore"]["day"] == [1, 0, 1]
    assert table["isolation_forest"]["week"] == [0, 1, 1]


def test_dashboard_activity_chart_is_svg(staff_browser, shop):
    html = page_html(staff_browser.get(reverse("anomalies:dashboard")))
    assert "<svg" in html
    assert "Events per hour" in html


def test_dashboard_lists_high_findings(staff_browser, shop):
    html = page_html(staff_browser.get(reverse("anomalies:dashboard")))
    assert f"5 failed logins from {ATTACKER_IP} in 3 minutes" in html


def test_finding_list_describes_entities(reader_browser, shop):
    html = page_html(reader_browser.get(reverse("anomalies:finding-list")))
    assert f"5 failed logins from {ATTACKER_IP} in 3 minutes" in html
    assert (
        "order #{}, 48,300.00, 37× the sum of its items".format(
            shop["mismatched_order"].pk
        )
        in html
    )
    assert "first order of Bob" in html


def test_finding_list_queries_do_not_grow_with_rows(reader_browser, shop):
    url = reverse("anomalies:finding-list")
    with CaptureQueriesContext(connection) as few:
        reader_browser.get(url)
    template = shop["view_finding"]
    extra_runs = [
        Run(kind=Run.Kind.DETECT, detector="extra", entity_type=EntityType.ACTIVITY)
        for _index in range(20)
    ]
    Run.objects.bulk_create(extra_runs)
    Finding.objects.bulk_create(
        Finding(
            run=run,
            detector="extra",
            entity_type=EntityType.ACTIVITY,
            entity_id=template.entity_id,
            entity_time=template.entity_time,
            raw_score=1.0,
            score=50.0,
            severity=Severity.LOW,
        )
        for run in extra_runs
    )
    with CaptureQueriesContext(connection) as many:
        reader_browser.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    "query,expected",
    [
        ({"severity": "high"}, {"burst_finding", "order_finding"}),
        ({"detector": "isolation_forest"}, {"order_finding", "first_order_finding"}),
        ({"entity_type": "order"}, {"order_finding", "first_order_finding"}),
        ({"ip": ATTACKER_IP}, {"burst_finding", "dbscan_finding"}),
        ({"review_status": "false_positive"}, set()),
    ],
)
def test_finding_list_filters(reader_browser, shop, query, expected):
    response = reader_browser.get(reverse("anomalies:finding-list"), query)
    shown = {finding.pk for finding in response.context["findings"]}
    assert shown == {shop[key].pk for key in expected}


def test_finding_list_filters_by_run(reader_browser, shop):
    run = shop["forest_run"]
    response = reader_browser.get(reverse("anomalies:finding-list"), {"run": run.pk})
    shown = {finding.run_id for finding in response.context["findings"]}
    assert shown == {run.pk}


@pytest.mark.parametrize(
    "sort,first",
    [("-score", "burst_finding"), ("score", "first_order_finding")],
)
def test_finding_list_sorts_by_score(reader_browser, shop, sort, first):
    response = reader_browser.get(reverse("anomalies:finding-list"), {"sort": sort})
    assert response.context["findings"][0].pk == shop[first].pk


def test_finding_list_sorts_by_time(reader_browser, shop):
    response = reader_browser.get(reverse("anomalies:finding-list"), {"sort": "-time"})
    assert response.context["findings"][0].pk == shop["first_order_finding"].pk


def test_finding_list_invalid_ip_names_field(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-list"), {"ip": "not-an-ip"}
    )
    assert response.status_code == 200
    assert "Enter a valid IPv4 or IPv6 address." in page_html(response)


def test_finding_list_reversed_dates_rejected(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-list"),
        {"since": "2030-01-02T00:00", "until": "2030-01-01T00:00"},
    )
    assert "swap them" in page_html(response)


def test_finding_list_no_match_empty_state(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-list"), {"review_status": "confirmed"}
    )
    assert "No findings match these filters." in page_html(response)


def test_finding_list_paginates(reader_browser, shop):
    run = shop["detect_run"]
    Finding.objects.bulk_create(
        Finding(
            run=run,
            detector="statistical_zscore",
            entity_type=EntityType.ORDER,
            entity_id=10_000 + index,
            raw_score=1.0,
            score=10.0,
            severity=Severity.LOW,
        )
        for index in range(60)
    )
    second = reader_browser.get(reverse("anomalies:finding-list"), {"page": 2})
    assert len(second.context["findings"]) == 65 - 50


def test_finding_detail_activity_context(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
    )
    html = page_html(response)
    assert len(response.context["ip_events"]) == 5
    assert len(response.context["session_events"]) == 5
    assert "ip_failed_logins_15m" in html
    assert "Brute-force login" in html


def test_finding_detail_lists_other_detectors(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
    )
    others = [finding.pk for finding in response.context["other_findings"]]
    assert others == [shop["dbscan_finding"].pk]


def test_finding_detail_marks_outside_range(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
    )
    outside = [row["outside"] for row in response.context["explanation"]]
    assert outside == [True, False]


def test_finding_detail_links_ip_to_findings(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
        )
    )
    assert f'href="/findings/?ip={ATTACKER_IP}"' in html


def test_finding_detail_order_context(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:finding-detail", args=[shop["order_finding"].pk])
    )
    earlier = [order.pk for order in response.context["earlier_orders"]]
    assert earlier == [shop["earlier_order"].pk]
    assert "1,300.00" in page_html(response)


def test_finding_detail_customer_links_admin(staff_browser, shop):
    html = page_html(
        staff_browser.get(
            reverse("anomalies:finding-detail", args=[shop["order_finding"].pk])
        )
    )
    url = reverse("admin:store_customer_change", args=[shop["alice"].pk])
    assert f'href="{url}"' in html


def test_finding_detail_missing_entity(reader_browser, shop):
    finding = shop["order_finding"]
    shop["mismatched_order"].delete()
    response = reader_browser.get(
        reverse("anomalies:finding-detail", args=[finding.pk])
    )
    assert "no longer stored" in page_html(response)


def test_reader_sees_no_review_buttons(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
        )
    )
    assert 'name="review_status"' not in html


def test_staff_sees_review_buttons(staff_browser, shop):
    html = page_html(
        staff_browser.get(
            reverse("anomalies:finding-detail", args=[shop["burst_finding"].pk])
        )
    )
    assert 'value="false_positive"' in html


def test_review_records_who_and_when(staff_browser, staff_user, shop):
    finding = shop["burst_finding"]
    response = staff_browser.post(
        reverse("anomalies:finding-review", args=[finding.pk]),
        {"review_status": "false_positive"},
    )
    finding.refresh_from_db()
    assert response.status_code == 302
    assert finding.review_status == "false_positive"
    assert finding.reviewed_by == staff_user
    assert finding.reviewed_at is not None


def test_review_list_reflects_status(staff_browser, shop):
    finding = shop["burst_finding"]
    staff_browser.post(
        reverse("anomalies:finding-review", args=[finding.pk]),
        {"review_status": "false_positive"},
    )
    response = staff_browser.get(
        reverse("anomalies:finding-list"), {"review_status": "false_positive"}
    )
    assert [row.pk for row in response.context["findings"]] == [finding.pk]


def test_review_forbidden_for_reader(reader_browser, shop):
    finding = shop["burst_finding"]
    response = reader_browser.post(
        reverse("anomalies:finding-review", args=[finding.pk]),
        {"review_status": "confirmed"},
    )
    finding.refresh_from_db()
    assert response.status_code == 403
    assert finding.review_status == "new"


def test_review_requires_csrf(staff_user, shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(
        reverse("anomalies:finding-review", args=[shop["burst_finding"].pk]),
        {"review_status": "confirmed"},
    )
    assert response.status_code == 403


def test_review_invalid_status_changes_nothing(staff_browser, shop):
    finding = shop["burst_finding"]
    response = staff_browser.post(
        reverse("anomalies:finding-review", args=[finding.pk]),
        {"review_status": "maybe"},
        follow=True,
    )
    finding.refresh_from_db()
    assert finding.review_status == "new"
    assert "Invalid review status &#x27;maybe&#x27;" in page_html(response)


def test_review_ignores_foreign_next(staff_browser, shop):
    finding = shop["burst_finding"]
    response = staff_browser.post(
        reverse("anomalies:finding-review", args=[finding.pk]),
        {"review_status": "confirmed", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse(
        "anomalies:finding-detail", args=[finding.pk]
    )


def test_running_run_refreshes(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:run-detail", args=[shop["running_run"].pk])
        )
    )
    assert '<meta http-equiv="refresh"' in html
    assert 'aria-valuenow="40"' in html


def test_finished_run_does_not_refresh(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:run-detail", args=[shop["detect_run"].pk])
        )
    )
    assert 'http-equiv="refresh"' not in html


def test_failed_run_shows_error(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:run-detail", args=[shop["failed_run"].pk])
        )
    )
    assert "Too few rows to train: 3 orders, at least 10 needed." in html


def test_metrics_rounded_not_truncated(reader_browser, shop):
    html = page_html(
        reader_browser.get(
            reverse("anomalies:run-detail", args=[shop["detect_run"].pk])
        )
    )
    assert "Recall 0.667" in html


def test_detection_run_shows_metrics(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:run-detail", args=[shop["detect_run"].pk])
    )
    assert "<svg" in page_html(response)
    assert response.context["evaluation"]["overall"]["roc_auc"] == 0.98


def test_run_list_refreshes_while_active(reader_browser, shop):
    html = page_html(reader_browser.get(reverse("anomalies:run-list")))
    assert 'http-equiv="refresh"' in html


def test_run_list_filters_by_status(reader_browser, shop):
    response = reader_browser.get(reverse("anomalies:run-list"), {"status": "failed"})
    assert [run.pk for run in response.context["runs"]] == [shop["failed_run"].pk]


def test_run_list_fails_stale_runs(reader_browser, shop):
    run = shop["running_run"]
    long_ago = timezone.now() - timedelta(hours=2)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=long_ago, started_at=long_ago)
    reader_browser.get(reverse("anomalies:run-list"))
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "stopped sending heartbeats" in run.error


def test_run_form_hidden_from_reader(reader_browser):
    html = page_html(reader_browser.get(reverse("anomalies:run-new")))
    assert '<form method="post" class="card' not in html
    assert "Only staff can start training and detection." in html


def test_run_form_post_forbidden_for_reader(reader_browser):
    response = reader_browser.post(
        reverse("anomalies:run-new"),
        {"kind": "train", "entity_types": ["activity"], "detectors": ["dbscan"]},
    )
    assert response.status_code == 403


def test_run_form_queues_runs(staff_browser, staff_user, shop):
    # The real start_runs puts one task per run on the ORM broker's queue.
    queued_before = OrmQ.objects.count()
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {
            "kind": "train",
            "entity_types": ["activity", "order"],
            "detectors": ["statistical_zscore", "dbscan"],
            "limit": "500",
            "z_threshold": "2.5",
        },
    )
    runs = list(Run.objects.filter(status=Run.Status.QUEUED).order_by("pk"))
    ids = ",".join(str(run.pk) for run in runs)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('anomalies:run-list')}?ids={ids}"
    assert [(run.entity_type, run.detector) for run in runs] == [
        ("activity", "statistical_zscore"),
        ("activity", "dbscan"),
        ("order", "statistical_zscore"),
        ("order", "dbscan"),
    ]
    assert {run.parameters["limit"] for run in runs} == {500}
    assert {run.parameters["z_threshold"] for run in runs} == {2.5}
    assert {run.requested_by_id for run in runs} == {staff_user.pk}
    assert all(run.task_id for run in runs)
    if "orm" in settings.Q_CLUSTER:
        # With Redis as the broker the tasks queue there, and a worker of
        # another test may take them at any moment. The task ids above show
        # that they were queued.
        assert OrmQ.objects.count() - queued_before == 4


def test_run_form_single_run_opens_it(staff_browser, shop):
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {"kind": "train", "entity_types": ["activity"], "detectors": ["dbscan"]},
    )
    run = Run.objects.filter(status=Run.Status.QUEUED, detector="dbscan").get()
    assert response["Location"] == reverse("anomalies:run-detail", args=[run.pk])


def test_run_form_detect_without_model(staff_browser):
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {"kind": "detect", "entity_types": ["activity"], "detectors": ["dbscan"]},
    )
    assert response.status_code == 200
    assert "No trained dbscan model for activity: train it first" in page_html(response)
    assert not Run.objects.exists()


def test_run_form_defaults_to_train_then_detect(staff_browser):
    response = staff_browser.get(reverse("anomalies:run-new"))
    assert response.context["form"]["kind"].value() == "train_detect"


@pytest.fixture
def sync_queue(transactional_db, monkeypatch):
    """Run django-q2 tasks in-process through async_task, the worker and the hook.

    The worker closes connections that are inside a transaction, so these
    tests commit for real instead of running in a rolled-back transaction.
    """
    monkeypatch.setattr(Conf, "SYNC", True)


def queued_runs(response):
    """Return the runs a run request redirected to, in the order of its ids."""
    ids = [int(part) for part in response["Location"].split("ids=")[1].split(",")]
    runs = Run.objects.in_bulk(ids)
    return [runs[pk] for pk in ids]


def test_train_then_detect_runs_chain(staff_browser, shop, sync_queue):
    # Z-score needs 20 rows to train; the shop has 11 events.
    start = shop["burst_event"].timestamp - timedelta(days=1)
    UserActivity.objects.bulk_create(
        UserActivity(
            action_type=ActionType.VIEW_PAGE,
            ip_address=f"198.51.100.{index}",
            session_id=f"quiet-{index}",
            timestamp=start + timedelta(minutes=7 * index),
        )
        for index in range(30)
    )
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {
            "kind": "train_detect",
            "entity_types": ["activity"],
            "detectors": ["statistical_zscore"],
        },
    )
    train, detect = queued_runs(response)
    assert (train.kind, detect.kind) == (Run.Kind.TRAIN, Run.Kind.DETECT)
    assert train.status == Run.Status.SUCCEEDED
    assert detect.status == Run.Status.SUCCEEDED
    assert detect.trained_model == TrainedModel.objects.get(run=train)
    assert detect.started_at >= train.finished_at


def test_train_then_detect_failed_training(staff_browser, shop, sync_queue):
    # Three orders are too few to train DBSCAN, so detection must not start.
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {"kind": "train_detect", "entity_types": ["order"], "detectors": ["dbscan"]},
    )
    train, detect = queued_runs(response)
    assert train.status == Run.Status.FAILED
    assert detect.status == Run.Status.FAILED
    assert f"because training run #{train.pk} is failed: Too few" in detect.error
    assert detect.started_at is None


def test_run_form_rejects_out_of_range(staff_browser):
    response = staff_browser.post(
        reverse("anomalies:run-new"),
        {
            "kind": "detect",
            "entity_types": ["activity"],
            "detectors": ["dbscan"],
            "z_threshold": "0.1",
        },
    )
    assert response.context["form"].errors["z_threshold"] == [
        "Ensure this value is greater than or equal to 0.5."
    ]


def test_run_form_initial_from_settings(staff_browser):
    stored = DetectorSettings.load()
    stored.z_threshold = 4.25
    stored.save()
    response = staff_browser.get(reverse("anomalies:run-new"))
    assert response.context["form"].initial["z_threshold"] == 4.25


def test_evaluation_tables_and_charts(reader_browser, shop):
    response = reader_browser.get(reverse("anomalies:evaluation"))
    html = page_html(response)
    assert [section["entity_type"] for section in response.context["sections"]] == [
        "activity"
    ]
    assert html.count("<svg") == 2
    assert "Brute-force login" in html


def test_evaluation_labels_without_runs(reader_browser, shop):
    Run.objects.update(metrics={})
    html = page_html(reader_browser.get(reverse("anomalies:evaluation")))
    assert "No detection run has been evaluated yet" in html


def test_features_scatter_highlights_findings(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:features"),
        {"entity_type": "activity", "x": "hour", "y": "ip_failed_logins_15m"},
    )
    # Three activity findings point at two events: the burst's last and a view.
    assert response.context["flagged"] == 2
    assert response.context["rows"] == 11
    assert response.context["columns"] == feature_names("activity")
    assert "<svg" in page_html(response)


def test_features_highlight_one_detector(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:features"),
        {"entity_type": "activity", "detector": "dbscan"},
    )
    assert response.context["flagged"] == 1


def test_features_orders(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:features"), {"entity_type": "order"}
    )
    assert response.context["columns"] == feature_names("order")
    assert response.context["flagged"] == 2


def test_features_unknown_column(reader_browser, shop):
    response = reader_browser.get(
        reverse("anomalies:features"), {"entity_type": "activity", "x": "nope"}
    )
    assert "Unknown feature &#x27;nope&#x27; for activity" in page_html(response)


def test_features_empty_database(staff_browser):
    html = page_html(staff_browser.get(reverse("anomalies:features")))
    assert "No rows to plot for this entity yet" in html
    assert f'href="{reverse("simulator:page")}"' in html


def test_features_rejects_bad_limit(reader_browser):
    response = reader_browser.get(reverse("anomalies:features"), {"limit": "5"})
    assert "Ensure this value is greater than or equal to 100." in page_html(response)


def test_settings_reader_sees_values_only(reader_browser):
    html = page_html(reader_browser.get(reverse("anomalies:settings")))
    assert 'name="save_settings"' not in html
    assert "Only staff can change these." in html


def test_settings_staff_saves(staff_browser):
    form = {
        "limit": "5000",
        "max_train_rows": "200000",
        "z_threshold": "3.5",
        "iforest_n_estimators": "100",
        "iforest_contamination": "0.02",
        "dbscan_eps": "",
        "dbscan_min_samples": "7",
        "dbscan_max_train_rows": "10000",
    }
    response = staff_browser.post(reverse("anomalies:settings"), form)
    stored = DetectorSettings.load()
    assert response.status_code == 302
    assert stored.z_threshold == 3.5
    assert stored.dbscan_min_samples == 7
    assert stored.max_train_rows == 200_000


def test_settings_staff_invalid_value_names_field(staff_browser):
    before = DetectorSettings.load().z_threshold
    response = staff_browser.post(
        reverse("anomalies:settings"),
        {
            "limit": "5000",
            "max_train_rows": "200000",
            "z_threshold": "99",
            "iforest_n_estimators": "100",
            "iforest_contamination": "0.02",
            "dbscan_min_samples": "7",
            "dbscan_max_train_rows": "10000",
        },
    )
    assert response.context["form"].errors["z_threshold"] == [
        "Ensure this value is less than or equal to 50.0."
    ]
    assert DetectorSettings.load().z_threshold == before


def test_settings_post_forbidden_for_reader(reader_browser):
    response = reader_browser.post(reverse("anomalies:settings"), {"z_threshold": "4"})
    assert response.status_code == 403


def test_time_zone_choice_applies(reader_browser, shop):
    reader_browser.post(reverse("anomalies:settings"), {"time_zone": "Asia/Tokyo"})
    html = page_html(reader_browser.get(reverse("anomalies:run-list")))
    assert "Times in Asia/Tokyo." in html


def test_time_zone_unknown_rejected(reader_browser):
    response = reader_browser.post(
        reverse("anomalies:settings"), {"time_zone": "Mars/Base"}
    )
    assert "Select a valid choice." in page_html(response)


def test_default_time_zone_from_setting(reader_browser, shop, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    html = page_html(reader_browser.get(reverse("anomalies:dashboard")))
    assert "Times in Europe/Berlin." in html


def test_finding_list_one_line_singular(reader_browser, shop):
    order = Order.objects.create(
        customer=shop["alice"], total_amount=Decimal("25.00"), created_at=timezone.now()
    )
    OrderItem.objects.create(
        order=order,
        product=Product.objects.get(),
        quantity=1,
        unit_price=Decimal("25.00"),
    )
    Finding.objects.create(
        run=shop["forest_run"],
        detector="isolation_forest",
        entity_type=EntityType.ORDER,
        entity_id=order.pk,
        raw_score=0.1,
        score=60.0,
        severity=Severity.LOW,
    )
    html = page_html(reader_browser.get(reverse("anomalies:finding-list")))
    assert f"order #{order.pk}, 25.00, 1 unit in 1 line by Alice Liddell" in html


@pytest.mark.parametrize(
    "query",
    [
        {"until": "9999-12-31T23:59:59-05:00"},
        {"since": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_findings_time_out_of_range_is_form_error(reader_browser, query):
    response = reader_browser.get(reverse("anomalies:finding-list"), query)
    assert response.status_code == 200
    assert "Invalid time" in response.content.decode()
