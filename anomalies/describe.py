"""Describe flagged rows in words and gather the rows around them, in bulk.

The findings list shows one sentence per finding ("12 failed logins from
203.0.113.7 in 3 minutes"). Every function here takes a whole page of findings
and reads the rows it needs with a fixed number of queries, whatever the page
size.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    Min,
    OuterRef,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from activities.models import ActionType, UserActivity
from store.models import EntityType, Order, OrderItem

# Events of the same IP and action inside this window before a flagged event
# are counted into its description.
BURST_WINDOW = timedelta(minutes=15)
# An order whose total differs from the sum of its items by more than this
# factor (either way) is described by that ratio.
MISMATCH_RATIO = Decimal("1.5")


def format_money(value):
    """Format an amount with two decimals and thousands separators."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def format_count(value):
    """Format a whole number with thousands separators."""
    return formats.number_format(value, 0, use_l10n=True, force_grouping=True)


def format_span(seconds):
    """Say how long a span of seconds is, in the largest whole unit that fits."""
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    minutes = round(seconds / 60)
    if minutes < 120:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours = round(seconds / 3600)
    return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}


def activity_rows(ids):
    """Return flagged events by id, each with the count of its IP's recent same actions.

    One query: a correlated subquery per row counts the events from the same
    IP address with the same action in ``BURST_WINDOW`` up to the event, using
    the (ip_address, timestamp) index.
    """
    if not ids:
        return {}
    recent = UserActivity.objects.filter(
        ip_address=OuterRef("ip_address"),
        action_type=OuterRef("action_type"),
        timestamp__gte=OuterRef("timestamp") - BURST_WINDOW,
        timestamp__lte=OuterRef("timestamp"),
    ).values("ip_address")
    rows = (
        UserActivity.objects.filter(pk__in=ids)
        .annotate(
            recent_count=Subquery(recent.annotate(n=Count("id")).values("n")[:1]),
            recent_first=Subquery(
                recent.annotate(first=Min("timestamp")).values("first")[:1]
            ),
            customer_email=F("customer__email"),
            customer_first_name=F("customer__first_name"),
            customer_last_name=F("customer__last_name"),
        )
        .values(
            "id",
            "timestamp",
            "action_type",
            "ip_address",
            "session_id",
            "customer_id",
            "customer_email",
            "customer_first_name",
            "customer_last_name",
            "details",
            "recent_count",
            "recent_first",
        )
    )
    return {row["id"]: row for row in rows}


def order_rows(ids):
    """Return flagged orders by id with their items' sum, count and units, in one query."""
    if not ids:
        return {}
    money = DecimalField(max_digits=20, decimal_places=2)
    items_sum = (
        OrderItem.objects.filter(order=OuterRef("pk"))
        .values("order")
        .annotate(s=Sum(F("unit_price") * F("quantity"), output_field=money))
        .values("s")[:1]
    )
    items = (
        OrderItem.objects.filter(order=OuterRef("pk"))
        .values("order")
        .annotate(n=Count("id"), units=Sum("quantity"))
    )
    earlier = (
        Order.objects.filter(
            customer=OuterRef("customer"), created_at__lt=OuterRef("created_at")
        )
        .values("customer")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )
    rows = (
        Order.objects.filter(pk__in=ids)
        .annotate(
            items_sum=Coalesce(
                Subquery(items_sum, output_field=money), Value(0), output_field=money
            ),
            item_count=Coalesce(Subquery(items.values("n")[:1]), Value(0)),
            units=Coalesce(Subquery(items.values("units")[:1]), Value(0)),
            earlier_orders=Coalesce(Subquery(earlier), Value(0)),
            customer_email=F("customer__email"),
            customer_first_name=F("customer__first_name"),
            customer_last_name=F("customer__last_name"),
        )
        .values(
            "id",
            "created_at",
            "total_amount",
            "status",
            "customer_id",
            "customer_email",
            "customer_first_name",
            "customer_last_name",
            "items_sum",
            "item_count",
            "units",
            "earlier_orders",
        )
    )
    return {row["id"]: row for row in rows}


def customer_name(row):
    """Return a customer's full name from a values row, or the e-mail when it has none."""
    full_name = (
        f"{row.get('customer_first_name') or ''} {row.get('customer_last_name') or ''}"
    )
    return full_name.strip() or row.get("customer_email") or ""


def describe_activity(row):
    """Describe one flagged event, leading with what makes it stand out."""
    action = (
        ActionType(row["action_type"]).label
        if row["action_type"] in ActionType.values
        else row["action_type"]
    )
    ip = row["ip_address"] or _("an unknown IP")
    count = row["recent_count"] or 1
    if count >= 3 and row["recent_first"] is not None:
        span = format_span((row["timestamp"] - row["recent_first"]).total_seconds())
        if row["action_type"] == ActionType.FAILED_LOGIN:
            return _("%(count)s failed logins from %(ip)s in %(span)s") % {
                "count": format_count(count),
                "ip": ip,
                "span": span,
            }
        return _("%(count)s × “%(action)s” from %(ip)s in %(span)s") % {
            "count": format_count(count),
            "action": action,
            "ip": ip,
            "span": span,
        }
    who = customer_name(row) or _("an anonymous visitor")
    details = row["details"] or {}
    if row["action_type"] == ActionType.FAILED_LOGIN and details.get("attempted_email"):
        return _("failed login as %(email)s from %(ip)s") % {
            "email": details["attempted_email"],
            "ip": ip,
        }
    if (
        row["action_type"] == ActionType.PURCHASE
        and details.get("order_total") is not None
    ):
        return _("purchase of %(total)s by %(who)s from %(ip)s") % {
            "total": format_money(Decimal(str(details["order_total"]))),
            "who": who,
            "ip": ip,
        }
    return _("“%(action)s” by %(who)s from %(ip)s") % {
        "action": action,
        "who": who,
        "ip": ip,
    }


def describe_order(row):
    """Describe one flagged order, leading with what makes it stand out."""
    # An id, not a quantity: no thousands separators, so it matches the admin.
    number = str(row["id"])
    total = format_money(row["total_amount"])
    items_sum = row["items_sum"] or Decimal(0)
    if items_sum > 0:
        ratio = row["total_amount"] / items_sum
        if ratio >= MISMATCH_RATIO or ratio <= 1 / MISMATCH_RATIO:
            return _(
                "order #%(number)s, %(total)s, %(ratio)s× the sum of its items"
            ) % {
                "number": number,
                "total": total,
                "ratio": formats.number_format(
                    ratio, 1 if ratio < 10 else 0, use_l10n=True, force_grouping=True
                ),
            }
    elif row["total_amount"] > 0:
        return _("order #%(number)s, %(total)s, with no items") % {
            "number": number,
            "total": total,
        }
    who = customer_name(row)
    if not row["earlier_orders"]:
        return _(
            "order #%(number)s, %(total)s, %(units)s units: first order of %(who)s"
        ) % {
            "number": number,
            "total": total,
            "units": format_count(row["units"]),
            "who": who,
        }
    units = ngettext("%(units)s unit", "%(units)s units", row["units"] or 0) % {
        "units": format_count(row["units"])
    }
    return ngettext(
        "order #%(number)s, %(total)s, %(units)s in %(items)s line by %(who)s",
        "order #%(number)s, %(total)s, %(units)s in %(items)s lines by %(who)s",
        row["item_count"],
    ) % {
        "number": number,
        "total": total,
        "units": units,
        "items": format_count(row["item_count"]),
        "who": who,
    }


def attach_entities(findings):
    """Set ``entity``, ``description`` and ``ip`` on each finding of a page.

    Reads the page's events with one query and its orders with another. A row
    that no longer exists (its simulation was removed) is described as such.
    """
    findings = list(findings)
    activity_ids = [
        f.entity_id for f in findings if f.entity_type == EntityType.ACTIVITY
    ]
    order_ids = [f.entity_id for f in findings if f.entity_type == EntityType.ORDER]
    activities = activity_rows(activity_ids)
    orders = order_rows(order_ids)
    for finding in findings:
        finding.ip = None
        if finding.entity_type == EntityType.ACTIVITY:
            finding.entity = activities.get(finding.entity_id)
            if finding.entity is not None:
                finding.description = describe_activity(finding.entity)
                finding.ip = finding.entity["ip_address"]
                continue
        else:
            finding.entity = orders.get(finding.entity_id)
            if finding.entity is not None:
                finding.description = describe_order(finding.entity)
                continue
        finding.description = _("%(entity)s #%(id)s, no longer stored") % {
            "entity": EntityType(finding.entity_type).label,
            "id": finding.entity_id,
        }
    return findings


def events_around(event, field, before=10, after=10):
    """Return events sharing ``field`` with ``event``: the ``before`` ones before it and
    the ``after`` ones after it, in time order, the event itself included."""
    value = getattr(event, field)
    if value in (None, ""):
        return []
    same = UserActivity.objects.filter(**{field: value}).select_related("customer")
    earlier = list(
        same.filter(timestamp__lte=event.timestamp)
        .exclude(pk=event.pk)
        .order_by("-timestamp", "-id")[:before]
    )
    later = list(
        same.filter(timestamp__gt=event.timestamp).order_by("timestamp", "id")[:after]
    )
    return [*reversed(earlier), event, *later]


def earlier_orders(order, limit=10):
    """Return the customer's orders placed before ``order``, newest first, with item sums."""
    money = DecimalField(max_digits=20, decimal_places=2)
    return list(
        Order.objects.filter(
            customer_id=order.customer_id, created_at__lt=order.created_at
        )
        .annotate(
            item_count=Count("items"),
            items_sum=Sum(
                F("items__unit_price") * F("items__quantity"), output_field=money
            ),
        )
        .order_by("-created_at", "-id")[:limit]
    )


def order_summary(order):
    """Return an order's items with products, and their count, units and sum."""
    items = list(order.items.select_related("product").order_by("id"))
    return {
        "items": items,
        "items_sum": sum((item.line_total for item in items), Decimal(0)),
        "units": sum(item.quantity for item in items),
    }


def window_bounds(now=None):
    """Return the start of the last day and of the last week, as aware datetimes."""
    now = now or timezone.now()
    return now - timedelta(days=1), now - timedelta(days=7)
