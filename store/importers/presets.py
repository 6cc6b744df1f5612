"""Read order exports into one normalised table of order lines.

Every preset returns an ``OrderLines`` frame with the columns ``order_id``,
``customer_id``, ``customer_email``, ``created_at`` (UTC), ``status``,
``product_id``, ``product_name``, ``quantity`` (int), ``unit_price`` and
``order_total`` (Decimal, the same on every line of an order), plus the rows it
rejected, each with file, line number and reason.
"""

import json
import logging
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from store.models import Order

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
LINE_COLUMNS = [
    "order_id",
    "customer_id",
    "customer_email",
    "created_at",
    "status",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "order_total",
]
OLIST_FILES = {
    "orders": "olist_orders_dataset.csv",
    "items": "olist_order_items_dataset.csv",
    "payments": "olist_order_payments_dataset.csv",
    "customers": "olist_customers_dataset.csv",
}
OLIST_STATUS = {
    "created": Order.Status.PENDING,
    "approved": Order.Status.PROCESSING,
    "invoiced": Order.Status.PROCESSING,
    "processing": Order.Status.PROCESSING,
    "shipped": Order.Status.SHIPPED,
    "delivered": Order.Status.DELIVERED,
    "canceled": Order.Status.CANCELLED,
    "unavailable": Order.Status.CANCELLED,
}
GENERIC_FIELDS = {
    "order_id": True,
    "created_at": True,
    "product": True,
    "quantity": True,
    "unit_price": True,
    "customer": False,
    "email": False,
    "product_name": False,
    "total": False,
    "status": False,
}


class OrdersFileError(ValueError):
    """An export that cannot be read at all: a missing file or column."""


@dataclass
class RejectedRows:
    """Rows skipped, counted by reason, with the first few kept as samples."""

    max_samples: int = 10
    counts: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)

    def add(self, file_name, line_numbers, reason):
        """Count rows rejected for ``reason``; ``line_numbers`` are file line numbers."""
        line_numbers = list(line_numbers)
        if not line_numbers:
            return
        self.counts[reason] = self.counts.get(reason, 0) + len(line_numbers)
        room = self.max_samples - len(self.samples)
        for number in line_numbers[: max(room, 0)]:
            self.samples.append(
                {"file": file_name, "line": int(number), "reason": reason}
            )

    @property
    def total(self):
        return sum(self.counts.values())


def read_csv(path, required):
    """Read a CSV as strings with a ``line`` column, checking the required columns."""
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except UnicodeDecodeError:
        # Exports from spreadsheet programs are often Windows-1252, not UTF-8.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise OrdersFileError(f"Cannot read {path}: {exc}") from exc
    frame.columns = [column.strip() for column in frame.columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise OrdersFileError(
            f"{path}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(frame.columns)}."
        )
    frame = frame.apply(lambda column: column.str.strip())
    # Line 1 is the header, so data row i (0-based) is on line i + 2.
    frame["line"] = np.arange(2, len(frame) + 2)
    return frame


def to_money(values):
    """Return Decimal amounts rounded to cents, or None where the text is not a number."""
    numeric = pd.to_numeric(values, errors="coerce")
    money = values.where(numeric.notna() & np.isfinite(numeric), None)
    return money.map(_decimal, na_action="ignore")


def _decimal(text):
    try:
        return Decimal(text).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def to_utc(values, time_zone, formats=(None,)):
    """Parse date-times and return them in UTC.

    Values with an offset ("Z", "+02:00") keep it; values without one are read
    as local times in ``time_zone``. ``formats`` are tried in order on the
    values without an offset, None meaning ISO 8601.
    """
    has_offset = values.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        result[has_offset] = pd.to_datetime(
            values[has_offset], format="ISO8601", utc=True, errors="coerce"
        )
    local = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = local.isna() & ~has_offset
        if not todo.any():
            break
        local[todo] = pd.to_datetime(
            values[todo], format=fmt or "ISO8601", errors="coerce"
        )
    # A wall time repeated when clocks go back is read as standard time, and
    # one skipped when they go forward is moved to the first valid instant.
    localised = local.dt.tz_localize(
        time_zone,
        ambiguous=np.zeros(len(local), dtype=bool),
        nonexistent="shift_forward",
    )
    return result.where(has_offset, localised.dt.tz_convert("UTC"))


def _reject(frame, mask, rejected, file_name, reason):
    rejected.add(file_name, frame.loc[mask, "line"], reason)
    return frame.loc[~mask]


def resolve_olist_paths(paths):
    """Map each Olist role to a file, from a folder or from the four file paths."""
    found = {}
    for path in map(Path, paths):
        candidates = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        for candidate in candidates:
            for role, name in OLIST_FILES.items():
                if candidate.name == name or candidate.name.endswith(f"_{role}.csv"):
                    found[role] = candidate
    missing = [OLIST_FILES[role] for role in OLIST_FILES if role not in found]
    if missing:
        raise OrdersFileError(
            f"Olist preset: missing file(s) {', '.join(missing)}; pass their folder "
            "or all four files."
        )
    return found


def read_olist(paths, time_zone, rejected):
    """Join Olist's orders, items, payments and customers into order lines.

    The order total is the sum of its payments (what the customer paid,
    freight included); an order without payments falls back to its items'
    prices plus freight. Items with the same product and price in one order
    become one line whose quantity is their count.
    """
    files = resolve_olist_paths(paths)
    orders = read_csv(
        files["orders"],
        ["order_id", "customer_id", "order_status", "order_purchase_timestamp"],
    )
    items = read_csv(
        files["items"], ["order_id", "product_id", "price", "freight_value"]
    )
    payments = read_csv(files["payments"], ["order_id", "payment_value"])
    customers = read_csv(files["customers"], ["customer_id", "customer_unique_id"])

    orders_name, items_name = files["orders"].name, files["items"].name
    orders["created_at"] = to_utc(orders["order_purchase_timestamp"], time_zone)
    orders = _reject(
        orders,
        orders["created_at"].isna(),
        rejected,
        orders_name,
        "invalid order_purchase_timestamp",
    )
    orders["status"] = orders["order_status"].str.lower().map(OLIST_STATUS)
    orders = _reject(
        orders,
        orders["status"].isna(),
        rejected,
        orders_name,
        f"unknown order_status (expected one of {', '.join(OLIST_STATUS)})",
    )
    orders = _reject(
        orders,
        orders["order_id"].duplicated(),
        rejected,
        orders_name,
        "duplicate order_id",
    )

    # Olist's customer_id is per order; customer_unique_id is the person.
    people = customers.drop_duplicates("customer_id").set_index("customer_id")
    orders["person"] = orders["customer_id"].map(people["customer_unique_id"])
    orders = _reject(
        orders,
        orders["person"].isna() | (orders["person"] == ""),
        rejected,
        orders_name,
        "customer_id not found in the customers file",
    )

    items["unit_price"] = to_money(items["price"])
    items["freight"] = to_money(items["freight_value"])
    items = _reject(
        items,
        items["unit_price"].isna() | items["freight"].isna(),
        rejected,
        items_name,
        "invalid price or freight_value",
    )
    items = _reject(
        items,
        ~items["order_id"].isin(orders["order_id"]),
        rejected,
        items_name,
        "order_id not found in the orders file (or that order was rejected)",
    )
    payments["amount"] = to_money(payments["payment_value"])
    payments = _reject(
        payments,
        payments["amount"].isna(),
        rejected,
        files["payments"].name,
        "invalid payment_value",
    )

    lines = (
        items.groupby(["order_id", "product_id", "unit_price"], sort=False)
        .agg(quantity=("line", "size"))
        .reset_index()
    )
    paid = payments.groupby("order_id")["amount"].sum()
    item_total = (
        (items["unit_price"] + items["freight"]).groupby(items["order_id"]).sum()
    )
    orders = orders.set_index("order_id")
    orders["order_total"] = paid.reindex(orders.index).fillna(item_total)

    without_items = ~orders.index.isin(lines["order_id"])
    rejected.add(orders_name, orders.loc[without_items, "line"], "order has no items")

    lines = lines.join(
        orders[["person", "created_at", "status", "order_total"]],
        on="order_id",
        how="inner",
    )
    return pd.DataFrame(
        {
            "order_id": lines["order_id"],
            "customer_id": lines["person"],
            "customer_email": "",
            "created_at": lines["created_at"],
            "status": lines["status"],
            "product_id": lines["product_id"],
            "product_name": "",
            "quantity": lines["quantity"].astype(int),
            "unit_price": lines["unit_price"],
            "order_total": lines["order_total"],
        }
    )


def read_uci(paths, time_zone, rejected):
    """Read UCI "Online Retail" rows (one per order line) into order lines.

    An InvoiceNo starting with "C" is a cancellation: the order is stored as
    cancelled with the absolute quantities. A row without CustomerID belongs
    to a guest customer of its own invoice, ``guest-<InvoiceNo>``, so that
    anonymous invoices do not merge into one giant customer.
    """
    required = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
    ]
    frames = []
    for path in map(Path, paths):
        frame = read_csv(path, required)
        frame["file"] = path.name
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    cancelled = rows["InvoiceNo"].str.upper().str.startswith("C")
    # CustomerID is often written as a float ("17850.0") by spreadsheet exports.
    customer = rows["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    customer = customer.where(customer != "", "guest-" + rows["InvoiceNo"])
    quantity = pd.to_numeric(rows["Quantity"], errors="coerce")
    lines = pd.DataFrame(
        {
            "order_id": rows["InvoiceNo"],
            "customer_id": customer,
            "customer_email": "",
            # Invoice dates are written as month/day/year in the original file.
            "created_at": to_utc(
                rows["InvoiceDate"], time_zone, ("%m/%d/%Y %H:%M", None)
            ),
            "status": np.where(
                cancelled, Order.Status.CANCELLED, Order.Status.DELIVERED
            ),
            "product_id": rows["StockCode"],
            "product_name": rows["Description"],
            "quantity": quantity.abs(),
            "unit_price": to_money(rows["UnitPrice"]),
            "line": rows["line"],
            "file": rows["file"],
        }
    )
    return finish_lines(lines, rejected)


def parse_mapping(text):
    """Parse ``field=column,field=column`` or a JSON file path into a column mapping."""
    if text.endswith(".json") or Path(text).is_file():
        try:
            mapping = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise OrdersFileError(f"Cannot read mapping file {text}: {exc}") from exc
        if not isinstance(mapping, dict):
            raise OrdersFileError(f"Mapping file {text}: expected a JSON object.")
    else:
        mapping = {}
        for pair in filter(None, (item.strip() for item in text.split(","))):
            name, sep, column = pair.partition("=")
            if not sep or not column.strip():
                raise OrdersFileError(
                    f"Invalid --map entry {pair!r}: write field=column, for example "
                    "order_id=InvoiceNo."
                )
            mapping[name.strip()] = column.strip()
    unknown = set(mapping) - set(GENERIC_FIELDS)
    if unknown:
        raise OrdersFileError(
            f"Unknown mapping field(s) {', '.join(sorted(unknown))}; use "
            f"{', '.join(GENERIC_FIELDS)}."
        )
    missing = [
        name
        for name, needed in GENERIC_FIELDS.items()
        if needed and name not in mapping
    ]
    if missing:
        raise OrdersFileError(
            f"Mapping lacks required field(s) {', '.join(missing)}; for example "
            "--map order_id=Order,created_at=Date,product=SKU,quantity=Qty,unit_price=Price."
        )
    return mapping


def read_generic(paths, time_zone, rejected, mapping):
    """Read CSV files with one row per order line, columns named by ``mapping``."""
    frames = []
    for path in map(Path, paths):
        frame = read_csv(path, list(mapping.values()))
        frame["file"] = path.name
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)

    def column(name, default=""):
        return (
            rows[mapping[name]]
            if name in mapping
            else pd.Series(default, index=rows.index)
        )

    order_id = column("order_id")
    customer = column("customer")
    customer = customer.where(customer != "", "guest-" + order_id)
    status = column("status", Order.Status.DELIVERED.value).str.lower()
    status = status.replace({"canceled": "cancelled", "": Order.Status.DELIVERED.value})
    lines = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customer,
            "customer_email": column("email"),
            "created_at": to_utc(column("created_at"), time_zone),
            "status": status.where(status.isin(Order.Status.values), None),
            "product_id": column("product"),
            "product_name": column("product_name"),
            "quantity": pd.to_numeric(column("quantity"), errors="coerce"),
            "unit_price": to_money(column("unit_price")),
            "line": rows["line"],
            "file": rows["file"],
        }
    )
    if "total" in mapping:
        lines["given_total"] = to_money(column("total"))
    return finish_lines(lines, rejected)


def finish_lines(lines, rejected):
    """Reject bad line rows, merge repeated lines and compute order totals."""
    checks = [
        (lines["order_id"] == "", "missing order id"),
        (lines["product_id"] == "", "missing product id"),
        (lines["created_at"].isna(), "invalid or missing date"),
        (
            lines["status"].isna(),
            f"unknown status (use one of {', '.join(Order.Status.values)})",
        ),
        (
            lines["quantity"].isna() | (lines["quantity"] % 1 != 0),
            "quantity is not a whole number",
        ),
        (lines["quantity"] == 0, "quantity is zero"),
        (lines["unit_price"].isna(), "invalid unit price"),
        (
            lines["unit_price"].map(lambda value: value is not None and value < 0),
            "negative unit price",
        ),
    ]
    if "given_total" in lines:
        checks.append((lines["given_total"].isna(), "invalid order total"))
    bad = pd.Series(False, index=lines.index)
    for mask, reason in checks:
        mask = mask.fillna(True).astype(bool) & ~bad
        for file_name, group in lines.loc[mask].groupby("file"):
            rejected.add(file_name, group["line"], reason)
        bad |= mask
    lines = lines.loc[~bad].copy()
    lines["quantity"] = lines["quantity"].astype(int)

    # An order keeps the customer, date and status of its first line.
    first = lines.groupby("order_id", sort=False)[
        ["customer_id", "customer_email", "created_at", "status"]
    ].first()
    lines["line_total"] = lines["unit_price"] * lines["quantity"]
    if "given_total" in lines:
        totals = lines.groupby("order_id")["given_total"].first()
    else:
        totals = lines.groupby("order_id")["line_total"].sum()
    merged = (
        lines.groupby(["order_id", "product_id", "unit_price"], sort=False)
        .agg(product_name=("product_name", "first"), quantity=("quantity", "sum"))
        .reset_index()
        .join(first, on="order_id")
    )
    merged["order_total"] = merged["order_id"].map(totals)
    return merged[LINE_COLUMNS]
