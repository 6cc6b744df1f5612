"""The simulate management command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from activities.models import UserActivity
from store.models import Customer, Source

SMALL = [
    "--customers",
    "80",
    "--products",
    "30",
    "--orders",
    "60",
    "--activities",
    "1500",
    "--seed",
    "4",
    "--days",
    "5",
    "--activity-anomaly-rate",
    "0.2",
    "--order-anomaly-rate",
    "0.2",
]


def test_command_prints_summary_per_kind(db):
    out = StringIO()
    call_command("simulate", *SMALL, stdout=out)
    text = out.getvalue()
    assert "activities" in text
    assert "brute_force" in text
    assert UserActivity.objects.count() == 1500


def test_command_reset_keeps_other_rows(db):
    call_command("simulate", *SMALL, stdout=StringIO())
    Customer.objects.create(email="own@example.com", source=Source.API)
    call_command("simulate", "--reset-only", stdout=StringIO())
    assert list(Customer.objects.values_list("email", flat=True)) == ["own@example.com"]


def test_command_reset_then_same_seed(db):
    call_command("simulate", *SMALL, stdout=StringIO())
    call_command("simulate", *SMALL, "--reset", stdout=StringIO())
    assert UserActivity.objects.count() == 1500


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--activities", "-1"], "--activities"),
        (["--order-anomaly-rate", "0.7"], "--order-anomaly-rate"),
        (["--kinds", "burst,comet"], "--kinds"),
        (["--locale", "zz"], "--locale"),
    ],
)
def test_command_rejects_bad_input(db, args, option):
    with pytest.raises(CommandError, match=option):
        call_command("simulate", *args, stdout=StringIO())
    assert Customer.objects.count() == 0


def test_command_warns_about_kinds_without_incident(db):
    out = StringIO()
    # 1,500 events at 2 % leave 30 anomalous events, fewer than one scraper
    # incident needs.
    small = [*SMALL]
    small[small.index("--activity-anomaly-rate") + 1] = "0.02"
    kinds = "scraper,burst,total_mismatch"
    call_command("simulate", *small, "--kinds", kinds, stdout=out)
    warning = out.getvalue().rsplit("No incident of ", 1)[-1]
    assert "scraper" in warning.split(":")[0]
