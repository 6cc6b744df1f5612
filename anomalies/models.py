"""Trained detectors, training and detection runs, and the findings they store."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from store.models import EntityType


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class DetectorSettings(models.Model):
    """Default parameters for training and detection; a single row, edited in the admin."""

    limit = models.PositiveIntegerField(
        default=100_000,
        validators=[MinValueValidator(10), MaxValueValidator(50_000_000)],
        help_text=_("Most recent rows read for training and detection."),
    )
    max_train_rows = models.PositiveIntegerField(
        default=500_000,
        validators=[MinValueValidator(100), MaxValueValidator(5_000_000)],
        help_text=_(
            "Most rows a model is fitted on: a random sample of the rows read, "
            "which bounds the memory of training."
        ),
    )
    z_threshold = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(50.0)],
        help_text=_("|z| above which the Z-score detector flags a feature."),
    )
    zscore_robust = models.BooleanField(
        default=True,
        help_text=_("Use median and MAD instead of mean and standard deviation."),
    )
    iforest_n_estimators = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(10), MaxValueValidator(2000)]
    )
    iforest_contamination = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
        help_text=_("Share of training rows scored as anomalous; sets the threshold."),
    )
    dbscan_eps = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1e-6), MaxValueValidator(1e6)],
        help_text=_(
            "Neighbourhood radius in scaled feature space; empty: from the k-distance curve."
        ),
    )
    dbscan_min_samples = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(2), MaxValueValidator(1000)]
    )
    dbscan_max_train_rows = models.PositiveIntegerField(
        default=20_000,
        validators=[MinValueValidator(100), MaxValueValidator(200_000)],
        help_text=_("Rows sampled to fit DBSCAN, which bounds its memory."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "detector settings"
        verbose_name_plural = "detector settings"

    def __str__(self):
        return "Detector settings"

    @classmethod
    def load(cls):
        """Return the single settings row, creating it with defaults on first use."""
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


def model_upload_path(instance, filename):
    return f"models/{instance.detector}/{instance.entity_type}/{filename}"


class TrainedModel(models.Model):
    """A fitted detector saved with joblib, with what is needed to trust it later.

    One model is active per detector and entity type; earlier versions stay so
    that a user can switch back.
    """

    detector = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    file = models.FileField(upload_to=model_upload_path, max_length=255)
    # SHA-256 of the file as written, checked before the file is unpickled.
    file_sha256 = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict)
    feature_names = models.JSONField(default=list)
    training_rows = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    sklearn_version = models.CharField(max_length=32)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey(
        "Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["detector", "entity_type"],
                condition=Q(is_active=True),
                name="one_active_model_per_detector_entity",
            ),
        ]

    def __str__(self):
        return f"{self.detector}/{self.entity_type} v{self.pk}"


class Run(models.Model):
    """One training or detection job, as queued, running and finished."""

    class Kind(models.TextChoices):
        TRAIN = "train", _("Training")
        DETECT = "detect", _("Detection")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    detector = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    parameters = models.JSONField(default=dict, blank=True)
    # Fraction of the work done, from 0.0 to 1.0.
    progress = models.FloatField(default=0.0)
    rows_processed = models.PositiveIntegerField(default=0)
    anomalies_found = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Detection only: precision, recall, ROC-AUC and the curves behind them,
    # computed against the simulator's labels when the scored rows have any.
    metrics = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    trained_model = models.ForeignKey(
        TrainedModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the worker; a running run whose heartbeat is too
    # old belongs to a killed worker and is marked failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return (
            f"{self.get_kind_display()} {self.detector}/{self.entity_type} #{self.pk}"
        )

    @property
    def duration_seconds(self):
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Finding(models.Model):
    """One row a detection run flagged as anomalous, with its scores and reasons."""

    class ReviewStatus(models.TextChoices):
        NEW = "new", _("New")
        CONFIRMED = "confirmed", _("Confirmed")
        FALSE_POSITIVE = "false_positive", _("False positive")

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="findings")
    detector = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    entity_id = models.BigIntegerField()
    # When the scored row happened (event timestamp or order creation time).
    entity_time = models.DateTimeField(null=True, blank=True)
    raw_score = models.FloatField()
    # Rank of the raw score among the training scores, from 0 to 100.
    score = models.FloatField()
    severity = models.CharField(max_length=8, choices=Severity.choices, db_index=True)
    # List of {"feature", "value", "typical_low", "typical_high", "contribution"}.
    explanation = models.JSONField(default=list)
    review_status = models.CharField(
        max_length=16,
        choices=ReviewStatus.choices,
        default=ReviewStatus.NEW,
        db_index=True,
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-score", "-id"]
        indexes = [
            models.Index(fields=["entity_type", "entity_id"]),
            models.Index(fields=["detector", "entity_type", "created_at"]),
            models.Index(fields=["entity_time"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "entity_type", "entity_id"],
                name="unique_finding_per_run_entity",
            ),
        ]

    def __str__(self):
        return f"{self.detector} {self.entity_type} {self.entity_id} ({self.severity})"
