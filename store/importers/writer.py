"""Store normalised order lines as customers, products, orders and items in bulk."""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from django.db import IntegrityError, transaction
from django.db.models import Count

from store.importers.presets import RejectedRows
from store.models import Customer, DataBatch, Order, OrderItem, Product, Source

logger = logging.getLogger(__name__)

BATCH_KIND = "orders_csv"
BULK_BATCH_SIZE = 2000
# Exports rarely carry e-mail addresses, but Customer.email is unique and
# required; the .invalid top-level domain can never receive mail (RFC 2606).
SYNTHETIC_EMAIL_DOMAIN = "customers.import.invalid"


class AlreadyImported(Exception):
    """The same files were imported before; nothing was written."""

    def __init__(self, batch):
        self.batch = batch
        super().__init__(
            f"These files are already imported as batch {batch.pk} ({batch.label}); "
            "remove that batch first to import them again."
        )


@dataclass
class OrdersImportResult:
    """Counts from one import."""

    batch: DataBatch | None = None
    rejected: RejectedRows = field(default_factory=RejectedRows)
    orders: int = 0
    items: int = 0
    customers_created: int = 0
    products_created: int = 0
    orders_already_stored: int = 0
    first_order: str | None = None
    last_order: str | None = None
    seconds: float = 0.0

    def stats(self):
        """Return the summary as stored on the batch."""
        return {
            "orders": self.orders,
            "items": self.items,
            "customers_created": self.customers_created,
            "products_created": self.products_created,
            "orders_already_stored": self.orders_already_stored,
            "rows_skipped": self.rejected.total,
            "skipped_by_reason": dict(self.rejected.counts),
            "skipped_samples": self.rejected.samples,
            "first_order": self.first_order,
            "last_order": self.last_order,
            "seconds": round(self.seconds, 3),
        }


def hash_files(paths):
    """Return one SHA-256 over the files' contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(map(Path, paths), key=lambda item: item.name):
        digest.update(path.name.encode())
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def store_lines(lines, *, files, preset, prefix, parameters, result):
    """Write order lines as one DataBatch inside a transaction and return the batch.

    Orders whose external id is already stored are skipped and counted, so a
    different file that repeats orders adds only the new ones. Customers and
    products are matched on external id and created when missing.
    """
    started = time.perf_counter()
    digest = hash_files(files)
    existing = DataBatch.objects.filter(kind=BATCH_KIND, content_sha256=digest).first()
    if existing is not None:
        raise AlreadyImported(existing)

    lines = lines.assign(
        order_ext=prefix + lines["order_id"],
        customer_ext=prefix + lines["customer_id"],
        product_ext=prefix + lines["product_id"],
    )
    stored = set(
        Order.objects.filter(external_id__in=pd.unique(lines["order_ext"])).values_list(
            "external_id", flat=True
        )
    )
    if stored:
        result.orders_already_stored = len(stored)
        lines = lines.loc[~lines["order_ext"].isin(stored)]

    try:
        with transaction.atomic():
            batch = DataBatch.objects.create(
                source=Source.IMPORT,
                kind=BATCH_KIND,
                label=", ".join(sorted(Path(path).name for path in files))[:255],
                content_sha256=digest,
                parameters=parameters,
            )
            customers = _ensure_customers(lines, batch, result)
            products = _ensure_products(lines, batch, result)
            _create_orders(lines, customers, products, batch, result)
            result.seconds = time.perf_counter() - started
            batch.stats = result.stats()
            batch.save(update_fields=["stats"])
    except IntegrityError as exc:
        existing = DataBatch.objects.filter(
            kind=BATCH_KIND, content_sha256=digest
        ).first()
        if existing is None:
            raise
        raise AlreadyImported(existing) from exc
    result.batch = batch
    logger.info(
        "Imported %s orders preset as batch %s: %d orders, %d items in %.1f s",
        preset,
        batch.pk,
        result.orders,
        result.items,
        result.seconds,
    )
    return batch


def _ensure_customers(lines, batch, result):
    """Return {external_id: customer pk}, creating the missing customers."""
    people = lines.drop_duplicates("customer_ext")[["customer_ext", "customer_email"]]
    wanted = people["customer_ext"].tolist()
    known = dict(
        Customer.objects.filter(external_id__in=wanted).values_list("external_id", "pk")
    )
    new = people.loc[~people["customer_ext"].isin(known)]
    synthetic = new["customer_ext"].str.replace(r"[^A-Za-z0-9._-]", "-", regex=True)
    emails = (
        new["customer_email"]
        .where(
            new["customer_email"].str.contains("@", regex=False),
            synthetic + "@" + SYNTHETIC_EMAIL_DOMAIN,
        )
        .str.lower()
    )
    # An e-mail given twice, or already used by a stored customer, falls
    # back to the synthetic address so that the unique constraint holds.
    taken = set(
        Customer.objects.filter(email__in=emails.tolist()).values_list(
            "email", flat=True
        )
    )
    clash = emails.duplicated() | emails.isin(taken)
    emails = emails.where(~clash, synthetic + "@" + SYNTHETIC_EMAIL_DOMAIN)
    Customer.objects.bulk_create(
        [
            Customer(
                email=email, external_id=external_id, source=Source.IMPORT, batch=batch
            )
            for external_id, email in zip(new["customer_ext"], emails, strict=True)
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    result.customers_created = len(new)
    return dict(
        Customer.objects.filter(external_id__in=wanted).values_list("external_id", "pk")
    )


def _ensure_products(lines, batch, result):
    """Return {external_id: product pk}, creating the missing products."""
    catalogue = (
        lines.groupby("product_ext", sort=False)
        .agg(name=("product_name", "first"), price=("unit_price", "first"))
        .reset_index()
    )
    wanted = catalogue["product_ext"].tolist()
    known = set(
        Product.objects.filter(external_id__in=wanted).values_list(
            "external_id", flat=True
        )
    )
    new = catalogue.loc[~catalogue["product_ext"].isin(known)]
    names = new["name"].where(new["name"] != "", "Product " + new["product_ext"])
    Product.objects.bulk_create(
        [
            Product(
                name=name[:255],
                price=price,
                external_id=external_id,
                source=Source.IMPORT,
                batch=batch,
            )
            for external_id, name, price in zip(
                new["product_ext"], names, new["price"], strict=True
            )
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    result.products_created = len(new)
    return dict(
        Product.objects.filter(external_id__in=wanted).values_list("external_id", "pk")
    )


def _create_orders(lines, customers, products, batch, result):
    heads = lines.drop_duplicates("order_ext")
    orders = Order.objects.bulk_create(
        [
            Order(
                customer_id=customers[customer],
                created_at=created_at,
                total_amount=total,
                status=status,
                external_id=external_id,
                source=Source.IMPORT,
                batch=batch,
            )
            for external_id, customer, created_at, total, status in zip(
                heads["order_ext"],
                heads["customer_ext"],
                heads["created_at"].array,
                heads["order_total"],
                heads["status"],
                strict=True,
            )
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    order_ids = {order.external_id: order.pk for order in orders}
    if None in order_ids.values():
        order_ids = dict(
            Order.objects.filter(batch=batch).values_list("external_id", "pk")
        )
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order_id=order_ids[order],
                product_id=products[product],
                quantity=quantity,
                unit_price=price,
            )
            for order, product, quantity, price in zip(
                lines["order_ext"],
                lines["product_ext"],
                lines["quantity"],
                lines["unit_price"],
                strict=True,
            )
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    result.orders = len(heads)
    result.items = len(lines)
    if len(heads):
        result.first_order = heads["created_at"].min().isoformat()
        result.last_order = heads["created_at"].max().isoformat()


def list_imports():
    """Return the order-import batches, newest first, with their order counts."""
    counts = dict(
        Order.objects.filter(batch__kind=BATCH_KIND)
        .values_list("batch_id")
        .annotate(rows=Count("id"))
        .values_list("batch_id", "rows")
    )
    batches = DataBatch.objects.filter(kind=BATCH_KIND).order_by("-created_at", "-pk")
    return [(batch, counts.get(batch.pk, 0)) for batch in batches]


def remove_import(batch_id):
    """Delete an order-import batch: its orders, then its unreferenced customers and products.

    Customers and products created by the batch but used by orders of other
    batches are kept (detached from the batch), because deleting a customer
    would cascade to those orders and a used product is protected.
    Returns counts of deleted orders, customers and products.
    """
    batch = DataBatch.objects.filter(kind=BATCH_KIND, pk=batch_id).first()
    if batch is None:
        raise DataBatch.DoesNotExist(
            f"No order-import batch with id {batch_id}; list them with --list."
        )
    with transaction.atomic():
        OrderItem.objects.filter(order__batch=batch).delete()
        _, deleted = Order.objects.filter(batch=batch).delete()
        orders = deleted.get(Order._meta.label, 0)
        customers = Customer.objects.filter(batch=batch)
        customers.filter(orders__isnull=False).update(batch=None)
        _, deleted = customers.filter(orders__isnull=True).delete()
        customer_count = deleted.get(Customer._meta.label, 0)
        products = Product.objects.filter(batch=batch)
        used = OrderItem.objects.filter(product__batch=batch).values("product_id")
        products.filter(pk__in=used).update(batch=None)
        product_count, _ = products.exclude(pk__in=used).delete()
        batch.delete()
    logger.info(
        "Removed order batch %s: %d orders, %d customers, %d products",
        batch_id,
        orders,
        customer_count,
        product_count,
    )
    return {"orders": orders, "customers": customer_count, "products": product_count}
