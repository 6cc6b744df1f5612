"""Simulation runs and the ground truth of the anomalies they inject."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from store.models import DataBatch, EntityType


class AnomalyKind(models.TextChoices):
    # Activity kinds.
    BURST = "burst", _("Burst of identical actions")
    BRUTE_FORCE = "brute_force", _("Brute-force login")
    CREDENTIAL_STUFFING = "credential_stuffing", _("Credential stuffing")
    SCRAPER = "scraper", _("Scraper")
    ACCOUNT_TAKEOVER = "account_takeover", _("Account takeover")
    # Order kinds.
    TOTAL_MISMATCH = "total_mismatch", _("Total differs from its items")
    QUANTITY_OUTLIER = "quantity_outlier", _("Quantity outlier")
    CARD_TESTING = "card_testing", _("Card testing")
    FIRST_ORDER_HUGE = "first_order_huge", _("Huge first order")


ACTIVITY_KINDS = (
    AnomalyKind.BURST,
    AnomalyKind.BRUTE_FORCE,
    AnomalyKind.CREDENTIAL_STUFFING,
    AnomalyKind.SCRAPER,
    AnomalyKind.ACCOUNT_TAKEOVER,
)
ORDER_KINDS = (
    AnomalyKind.TOTAL_MISMATCH,
    AnomalyKind.QUANTITY_OUTLIER,
    AnomalyKind.CARD_TESTING,
    AnomalyKind.FIRST_ORDER_HUGE,
)


class AnomalyLabel(models.Model):
    """Ground truth: one simulated row that was injected as an anomaly.

    Detectors never read this table; evaluation joins findings to it.
    ``incident_id`` groups the rows of one injected incident, such as all the
    failed logins of one brute-force attack.
    """

    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    entity_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=AnomalyKind.choices)
    incident_id = models.BigIntegerField(db_index=True)
    batch = models.ForeignKey(
        DataBatch, on_delete=models.CASCADE, related_name="anomaly_labels"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["entity_type", "entity_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type", "entity_id"], name="unique_label_per_entity"
            ),
        ]

    def __str__(self):
        return f"{self.kind}: {self.entity_type} {self.entity_id}"


class SimulationRun(models.Model):
    """A request to simulate a shop, and how far it got."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    config = models.JSONField(default=dict)
    # Fraction of the work done, from 0.0 to 1.0.
    progress = models.FloatField(default=0.0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    batch = models.ForeignKey(
        DataBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Simulation #{self.pk} ({self.status})"
