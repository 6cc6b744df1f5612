import io

import pytest
from django.core.management import CommandError, call_command

from activities.models import UserActivity
from anomalies.models import Finding, Run


def run(name, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.fixture
def trained(shop):
    return run("train", "--iforest-n-estimators", "20")


def test_train_prints_summary_table(trained):
    assert "statistical_zscore" in trained
    assert trained.count("succeeded") == 6


def test_detect_stores_findings(trained):
    output = run("detect", "--entity", "order", "--algorithms", "statistical_zscore")
    assert "succeeded" in output
    assert Finding.objects.filter(entity_type="order").exists()


def test_detect_background_queues(trained, monkeypatch):
    from anomalies import services

    monkeypatch.setattr(services, "_enqueue", lambda run: None)
    output = run("detect", "--background")
    assert "Queued 6 detect runs" in output
    assert Run.objects.filter(kind="detect", status="queued").count() == 6


def test_evaluate_prints_per_kind(trained):
    output = run("evaluate", "--entity", "activity")
    assert "brute_force" in output
    assert "roc_auc" in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--algorithms", "kmeans"], "--algorithms"),
        (["--z-threshold", "0"], "--z-threshold"),
        (["--limit", "3"], "--limit"),
        (["--max-train-rows", "99"], "--max-train-rows"),
    ],
)
def test_train_bad_option(db, arguments, message):
    with pytest.raises(CommandError, match=message):
        run("train", *arguments)


def test_detect_before_training_errors(shop):
    with pytest.raises(CommandError, match="train it first"):
        run("detect", "--entity", "order")


def test_train_without_data_fails(db):
    with pytest.raises(CommandError, match="runs failed"):
        run("train", "--entity", "order", "--algorithms", "dbscan")


def test_evaluate_without_labels_errors(db):
    with pytest.raises(CommandError, match="No activity rows"):
        run("evaluate", "--entity", "activity")


SMALL_SHOP = ["--customers", "60", "--products", "30", "--orders", "150"]
SMALL_SHOP += ["--activities", "3000", "--seed", "7"]


@pytest.fixture
def first_start():
    return run("first_start", *SMALL_SHOP)


@pytest.mark.django_db
def test_first_start_simulates_shop(first_start):
    assert UserActivity.objects.count() == 3000


@pytest.mark.django_db
def test_first_start_trains_every_pair(first_start):
    trained = Run.objects.filter(kind="train", status="succeeded").count()
    assert trained == 6


@pytest.mark.django_db
def test_first_start_detects_findings(first_start):
    assert Run.objects.filter(kind="detect", status="succeeded").count() == 6
    assert Finding.objects.filter(entity_type="activity").exists()
    assert "findings" in first_start


@pytest.mark.django_db
def test_first_start_skips_when_data_exists(first_start):
    output = run("first_start", *SMALL_SHOP)
    assert "Data exists" in output
    assert Run.objects.count() == 12


@pytest.mark.django_db
def test_first_start_skips_existing_store(shop):
    output = run("first_start", *SMALL_SHOP)
    assert "nothing to do" in output
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_first_start_force_adds_runs(first_start):
    run("first_start", *SMALL_SHOP[:-1], "8", "--force")
    assert Run.objects.filter(kind="detect").count() == 12


@pytest.mark.django_db
def test_first_start_rejects_bad_size():
    with pytest.raises(CommandError, match="--activities"):
        run("first_start", "--activities", "-5")
    assert Run.objects.count() == 0
