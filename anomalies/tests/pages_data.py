"""Shop data, runs and findings built through the ORM for the page tests.

Test modules import these fixtures by name; they live outside conftest.py
so that each page test module states which ones it uses.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import ActionType, UserActivity
from anomalies.models import Finding, Run, Severity
from simulator.models import AnomalyKind, AnomalyLabel
from store.models import (
    Customer,
    DataBatch,
    EntityType,
    Order,
    OrderItem,
    Product,
    Source,
)

ATTACKER_IP = "203.0.113.7"


@pytest.fixture
def fast_password_hasher(settings):
    """Hash test passwords with MD5: PBKDF2's deliberate slowness costs a second a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_browser(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def reader_browser(reader_user):
    client = Client()
    client.force_login(reader_user)
    return client


def detection_metrics():
    """Return run metrics in the shape detection runs store them."""
    edges = [float(edge) for edge in range(0, 101, 5)]
    return {
        "labelled_rows": 120,
        "positives": 6,
        "overall": {
            "precision": 0.8,
            "recall": 0.6667,
            "f1": 0.7273,
            "roc_auc": 0.98,
            "pr_auc": 0.75,
        },
        "per_kind": {
            "brute_force": {"count": 5, "recall": 0.8, "roc_auc": 0.99, "pr_auc": 0.8},
            "scraper": {"count": 1, "recall": 0.0, "roc_auc": 0.7, "pr_auc": 0.1},
        },
        "pr_curve": {
            "precision": [1.0, 1.0, 0.8, 0.5],
            "recall": [0.0, 0.5, 0.67, 1.0],
        },
        "score_histogram": {
            "edges": edges,
            "normal": [20, 18, 15, 12, 10, 9, 8, 7, 5, 4, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0],
            "anomalous": [0] * 17 + [1, 2, 3],
        },
    }


@pytest.fixture
def shop(staff_user):
    """Build a small shop with a brute-force burst, a mismatched order and findings.

    Returns a dict of the rows the tests look at.
    """
    now = timezone.now()
    batch = DataBatch.objects.create(source=Source.SIMULATOR, kind="simulation")
    product = Product.objects.create(name="Kettle", price=Decimal("25.00"))
    alice = Customer.objects.create(
        email="alice@example.com", first_name="Alice", last_name="Liddell"
    )
    bob = Customer.objects.create(email="bob@example.com", first_name="Bob")

    earlier = Order.objects.create(
        customer=alice,
        total_amount=Decimal("50.00"),
        created_at=now - timedelta(days=3),
    )
    OrderItem.objects.create(
        order=earlier, product=product, quantity=2, unit_price=Decimal("25.00")
    )
    mismatched = Order.objects.create(
        customer=alice,
        total_amount=Decimal("48300.00"),
        created_at=now - timedelta(hours=2),
    )
    OrderItem.objects.create(
        order=mismatched, product=product, quantity=52, unit_price=Decimal("25.00")
    )
    first = Order.objects.create(
        customer=bob, total_amount=Decimal("75.00"), created_at=now - timedelta(hours=1)
    )
    OrderItem.objects.create(
        order=first, product=product, quantity=3, unit_price=Decimal("25.00")
    )

    start = now - timedelta(hours=3)
    failed = [
        UserActivity(
            action_type=ActionType.FAILED_LOGIN,
            ip_address=ATTACKER_IP,
            session_id="attack-session",
            timestamp=start + timedelta(seconds=45 * index),
            details={"attempted_email": "alice@example.com"},
            user_agent="python-requests/2.32",
            batch=batch,
            source=Source.SIMULATOR,
        )
        for index in range(5)
    ]
    normal = [
        UserActivity(
            action_type=ActionType.VIEW_PRODUCT,
            customer=bob,
            ip_address="198.51.100.20",
            session_id="bob-session",
            timestamp=start + timedelta(minutes=10 * index),
            details={"product_id": product.pk},
            batch=batch,
            source=Source.SIMULATOR,
        )
        for index in range(6)
    ]
    UserActivity.objects.bulk_create(failed + normal)
    burst_last = UserActivity.objects.filter(ip_address=ATTACKER_IP).order_by(
        "-timestamp"
    )[0]
    quiet_view = UserActivity.objects.filter(ip_address="198.51.100.20").order_by(
        "timestamp"
    )[0]
    AnomalyLabel.objects.create(
        entity_type=EntityType.ACTIVITY,
        entity_id=burst_last.pk,
        kind=AnomalyKind.BRUTE_FORCE,
        incident_id=1,
        batch=batch,
    )

    finished = now - timedelta(minutes=30)
    train = Run.objects.create(
        kind=Run.Kind.TRAIN,
        detector="statistical_zscore",
        entity_type=EntityType.ACTIVITY,
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        rows_processed=11,
        started_at=finished - timedelta(seconds=4),
        finished_at=finished,
        requested_by=staff_user,
    )
    detect = Run.objects.create(
        kind=Run.Kind.DETECT,
        detector="statistical_zscore",
        entity_type=EntityType.ACTIVITY,
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        rows_processed=11,
        anomalies_found=2,
        parameters={"z_threshold": 3.0, "limit": 1000},
        metrics=detection_metrics(),
        started_at=finished - timedelta(seconds=2),
        finished_at=finished,
    )
    forest = Run.objects.create(
        kind=Run.Kind.DETECT,
        detector="isolation_forest",
        entity_type=EntityType.ORDER,
        status=Run.Status.SUCCEEDED,
        progress=1.0,
        rows_processed=3,
        anomalies_found=1,
        started_at=finished - timedelta(seconds=2),
        finished_at=finished,
    )
    running = Run.objects.create(
        kind=Run.Kind.DETECT,
        detector="dbscan",
        entity_type=EntityType.ACTIVITY,
        status=Run.Status.RUNNING,
        progress=0.4,
        rows_processed=4000,
        started_at=now,
        heartbeat_at=now,
    )
    failed_run = Run.objects.create(
        kind=Run.Kind.TRAIN,
        detector="dbscan",
        entity_type=EntityType.ORDER,
        status=Run.Status.FAILED,
        error="Too few rows to train: 3 orders, at least 10 needed.",
        finished_at=now,
    )

    explanation = [
        {
            "feature": "ip_failed_logins_15m",
            "value": 5.0,
            "typical_low": 0.0,
            "typical_high": 1.0,
            "contribution": 8.5,
        },
        {
            "feature": "hour",
            "value": 3.0,
            "typical_low": 0.0,
            "typical_high": 23.0,
            "contribution": 0.4,
        },
    ]
    burst_finding = Finding.objects.create(
        run=detect,
        detector="statistical_zscore",
        entity_type=EntityType.ACTIVITY,
        entity_id=burst_last.pk,
        entity_time=burst_last.timestamp,
        raw_score=8.5,
        score=99.5,
        severity=Severity.HIGH,
        explanation=explanation,
    )
    view_finding = Finding.objects.create(
        run=detect,
        detector="statistical_zscore",
        entity_type=EntityType.ACTIVITY,
        entity_id=quiet_view.pk,
        entity_time=quiet_view.timestamp,
        raw_score=3.1,
        score=91.0,
        severity=Severity.LOW,
        explanation=[],
    )
    forest_on_burst = Finding.objects.create(
        run=running,
        detector="dbscan",
        entity_type=EntityType.ACTIVITY,
        entity_id=burst_last.pk,
        entity_time=burst_last.timestamp,
        raw_score=2.0,
        score=97.0,
        severity=Severity.MEDIUM,
        explanation=[],
    )
    order_finding = Finding.objects.create(
        run=forest,
        detector="isolation_forest",
        entity_type=EntityType.ORDER,
        entity_id=mismatched.pk,
        entity_time=mismatched.created_at,
        raw_score=0.3,
        score=98.0,
        severity=Severity.HIGH,
        explanation=[],
    )
    first_order_finding = Finding.objects.create(
        run=forest,
        detector="isolation_forest",
        entity_type=EntityType.ORDER,
        entity_id=first.pk,
        entity_time=first.created_at,
        raw_score=0.1,
        score=80.0,
        severity=Severity.MEDIUM,
        explanation=[],
    )
    return {
        "alice": alice,
        "bob": bob,
        "earlier_order": earlier,
        "mismatched_order": mismatched,
        "burst_event": burst_last,
        "train_run": train,
        "detect_run": detect,
        "forest_run": forest,
        "running_run": running,
        "failed_run": failed_run,
        "burst_finding": burst_finding,
        "view_finding": view_finding,
        "dbscan_finding": forest_on_burst,
        "order_finding": order_finding,
        "first_order_finding": first_order_finding,
    }
