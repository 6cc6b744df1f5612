"""The shop's catalogue, customers and orders."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Source(models.TextChoices):
    """Where a row came from, so that each kind of data can be told apart and removed."""

    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    SIMULATOR = "simulator", _("Simulator")
    IMPORT = "import", _("Import")


class EntityType(models.TextChoices):
    """Kinds of rows that detectors score and the simulator labels."""

    ACTIVITY = "activity", _("Activity event")
    ORDER = "order", _("Order")


class DataBatch(models.Model):
    """One load of data: a simulator run or an imported file.

    Rows written by a batch point at it, so that a simulation or an import can
    be listed and removed as a unit. ``content_sha256`` identifies an imported
    file, which makes importing the same file twice a no-op.
    """

    source = models.CharField(max_length=16, choices=Source.choices)
    kind = models.CharField(
        max_length=32,
        help_text=_("What produced the batch: simulation, access_log, orders_csv."),
    )
    label = models.CharField(max_length=255, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "data batches"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "content_sha256"],
                condition=~Q(content_sha256=""),
                name="unique_batch_content_per_kind",
            ),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk} {self.label}".strip()


class SourcedModel(models.Model):
    """Abstract base recording where a row came from."""

    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.API, db_index=True
    )
    batch = models.ForeignKey(
        DataBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True


class Category(SourcedModel):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Product(SourcedModel):
    name = models.CharField(max_length=255, db_index=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="products",
    )
    # Identifier in the system the row was imported from (a SKU, a stock code).
    external_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="unique_product_external_id",
            ),
        ]

    def __str__(self):
        return self.name


class Customer(SourcedModel):
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    external_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="unique_customer_external_id",
            ),
        ]

    def __str__(self):
        full_name = f"{self.first_name} {self.last_name}".strip()
        return full_name or self.email


class Order(SourcedModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSING = "processing", _("Processing")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders"
    )
    created_at = models.DateTimeField(default=timezone.now)
    total_amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    external_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="unique_order_external_id",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # Price of one unit when the order was placed; the product's price may change later.
    unit_price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.quantity} x {self.product_id} in order {self.order_id}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity
