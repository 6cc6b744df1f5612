"""Read activity events or orders from the database in bulk and turn them into features.

``load_features`` is the entry point for detectors and pages. It reads the
most recent rows as plain values (never model instances), plus the look-back
history the windows need, and returns only the requested rows.
"""

import datetime

import pandas as pd
from django.conf import settings
from django.db.models import Count, F, FloatField, Max, Sum
from django.db.models.functions import Cast

from activities.models import UserActivity
from store.models import EntityType, Order

from . import activity, client, order, order_context
from .common import FeatureFrame, FeatureSpec

ENTITY_TYPES = [choice.value for choice in EntityType]
# Reading of every known feature column; both entities agree on shared names.
FEATURE_SPECS = {**order.FEATURE_SPECS, **activity.FEATURE_SPECS}

__all__ = [
    "ENTITY_TYPES",
    "FEATURE_SPECS",
    "FeatureFrame",
    "FeatureSpec",
    "feature_names",
    "feature_specs",
    "load_features",
]


def feature_specs(columns):
    """Return the FeatureSpec of each column; unknown columns are read both ways."""
    return [FEATURE_SPECS.get(name, FeatureSpec()) for name in columns]


def feature_names(entity_type):
    """Return the ordered feature columns of an entity type."""
    if entity_type == EntityType.ACTIVITY:
        return list(activity.FEATURE_NAMES)
    if entity_type == EntityType.ORDER:
        return list(order.FEATURE_NAMES)
    raise ValueError(
        f"Unknown entity type {entity_type!r}: use one of {', '.join(ENTITY_TYPES)}."
    )


def load_features(entity_type, limit=None, start=None, end=None):
    """Load features of the most recent ``limit`` rows with time in [start, end).

    Returns a ``FeatureFrame`` that unpacks as ``(features, times)``:
    ``features`` is a float DataFrame indexed by entity id (activity event id
    or order id) with the columns of ``feature_names(entity_type)``, sorted by
    time; ``times`` is a Series of UTC timestamps on the same index. ``limit``
    None reads every row in the range. Windows only look back, so a row's
    features never depend on later rows.
    """
    if entity_type == EntityType.ACTIVITY:
        return _load_activity(limit, start, end)
    if entity_type == EntityType.ORDER:
        return _load_orders(limit, start, end)
    raise ValueError(
        f"Unknown entity type {entity_type!r}: use one of {', '.join(ENTITY_TYPES)}."
    )


def _time_range(queryset, field, start, end):
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def _recent(queryset, field, limit):
    queryset = queryset.order_by(f"-{field}", "-id")
    if limit is not None:
        queryset = queryset[:limit]
    return queryset


def _finish(raw, features, time_field, target_ids):
    features = features.loc[features.index.isin(target_ids)]
    times = pd.Series(
        pd.to_datetime(raw.set_index("id")[time_field], utc=True),
        name=time_field,
    ).reindex(features.index)
    order = times.reset_index(drop=True).argsort(kind="stable").to_numpy()
    return FeatureFrame(features.iloc[order], times.iloc[order])


def _activity_values(queryset):
    rows = queryset.values_list(
        "id",
        "timestamp",
        "action_type",
        "customer_id",
        "session_id",
        "ip_address",
        "user_agent",
        "details__order_total",
        "details__quantity",
        "details__attempted_email",
        "details__status",
        "details__path",
        "details__method",
    )
    columns = [*activity.RAW_COLUMNS, *client.RAW_COLUMNS]
    return pd.DataFrame.from_records(list(rows), columns=columns)


def _load_activity(limit, start, end):
    in_range = _time_range(UserActivity.objects.all(), "timestamp", start, end)
    targets = _activity_values(_recent(in_range, "timestamp", limit))
    if targets.empty:
        return FeatureFrame(
            pd.DataFrame(columns=activity.FEATURE_NAMES, dtype=float),
            pd.Series(dtype="datetime64[ns, UTC]"),
        )
    first = targets["timestamp"].min()
    history_start = first - datetime.timedelta(seconds=activity.HISTORY_SECONDS)
    history = _activity_values(
        UserActivity.objects.filter(timestamp__gte=history_start, timestamp__lte=first)
    )
    history = history.loc[~history["id"].isin(targets["id"])]
    raw = pd.concat([history, targets], ignore_index=True)

    # Customer/IP pairs seen before the loaded rows, for "new IP for customer".
    customers_in_range = UserActivity.objects.filter(
        timestamp__gte=history_start, customer__isnull=False
    ).values("customer_id")
    known = set(
        UserActivity.objects.filter(
            timestamp__lt=history_start, customer_id__in=customers_in_range
        )
        .exclude(ip_address=None)
        .values_list("customer_id", "ip_address")
        .distinct()
    )
    features = activity.build_activity_features(
        raw, known_customer_ips=known, tz=settings.TIME_ZONE
    )
    return _finish(raw, features, "timestamp", targets["id"])


def _order_values(queryset, limit=None):
    queryset = queryset.annotate(
        total_float=Cast("total_amount", FloatField()),
        item_count=Count("items"),
        units=Sum("items__quantity"),
        items_total=Sum(
            Cast(F("items__quantity") * F("items__unit_price"), FloatField())
        ),
    )
    if limit is not None:
        queryset = _recent(queryset, "created_at", limit)
    rows = queryset.values_list(
        "id",
        "created_at",
        "customer_id",
        "total_float",
        "item_count",
        "units",
        "items_total",
        "customer__created_at",
    )
    return pd.DataFrame.from_records(list(rows), columns=order.RAW_COLUMNS)


def _load_orders(limit, start, end):
    targets = _order_values(
        _time_range(Order.objects.all(), "created_at", start, end), limit
    )
    if targets.empty:
        return FeatureFrame(
            pd.DataFrame(columns=order.FEATURE_NAMES, dtype=float),
            pd.Series(dtype="datetime64[ns, UTC]"),
        )
    first = targets["created_at"].min()
    history_start = first - datetime.timedelta(seconds=order.HISTORY_SECONDS)
    history = _order_values(
        Order.objects.filter(created_at__gte=history_start, created_at__lte=first)
    )
    history = history.loc[~history["id"].isin(targets["id"])]
    raw = pd.concat([history, targets], ignore_index=True)

    customers_in_range = Order.objects.filter(created_at__gte=history_start).values(
        "customer_id"
    )
    prior = pd.DataFrame.from_records(
        list(
            Order.objects.filter(
                created_at__lt=history_start, customer_id__in=customers_in_range
            )
            .values("customer_id")
            .annotate(
                prior_count=Count("id"),
                prior_sum=Sum(Cast("total_amount", FloatField())),
                prior_last=Max("created_at"),
            )
            .values_list("customer_id", "prior_count", "prior_sum", "prior_last")
        ),
        columns=order.PRIOR_COLUMNS,
    )
    context = order_context.load_order_context(
        raw["id"], history_start, targets["created_at"].max()
    )
    features = order.build_order_features(
        raw, prior=prior, context=context, tz=settings.TIME_ZONE
    )
    return _finish(raw, features, "created_at", targets["id"])
