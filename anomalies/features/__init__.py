"""Read activity events or orders from the database in bulk and turn them into features.

``load_features`` is the entry point for detectors and pages. It reads the
most recent rows as plain values (never model instances), plus the look-back
history the windows need, and returns only the requested rows.
"""

import datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, FloatField, Max, Sum
from django.db.models.functions import Cast

from activities.models import UserActivity
from store.models import EntityType, Order

from . import activity, client, order, order_context
from .common import FeatureFrame, FeatureSpec, to_utc

ENTITY_TYPES = [choice.value for choice in EntityType]
# Reading of every known feature column; both entities agree on shared names.
FEATURE_SPECS = {**order.FEATURE_SPECS, **activity.FEATURE_SPECS}
# Rows per slice of ``FeatureChunks``.
CHUNK_ROWS = 250_000
# History read before every activity slice but the first: the capped gap
# since an IP's previous event looks back this far.
CHUNK_HISTORY_SECONDS = max(activity.HISTORY_SECONDS, int(activity.MAX_GAP_SECONDS))
# Rows fetched from the cursor and turned into a frame at a time.
READ_BATCH_ROWS = 100_000
# Text columns that repeat few values. The driver returns a new string object
# for every row, so each part keeps one object per distinct value instead.
_REPEATED_TEXT_COLUMNS = (
    "action_type",
    "session_id",
    "ip_address",
    "user_agent",
    "attempted_email",
    "status",
    "path",
    "method",
)
# Columns of a raw activity frame: the event's own, then the access-log
# fields the per-client features read from its details.
ACTIVITY_RAW_COLUMNS = [*activity.RAW_COLUMNS, *client.RAW_COLUMNS]
# Selected columns of an activity row per backend, in ``ACTIVITY_RAW_COLUMNS``
# order: times as text (SQLite) or epoch microseconds (PostgreSQL), which
# avoids a Python datetime per row, and the details' fields extracted in SQL.
_ACTIVITY_COLUMNS_SQL = {
    "sqlite": (
        'id, CAST("timestamp" AS TEXT), action_type, customer_id, session_id, '
        "ip_address, user_agent, json_extract(details, '$.order_total'), "
        "json_extract(details, '$.quantity'), "
        "json_extract(details, '$.attempted_email'), "
        "json_extract(details, '$.status'), json_extract(details, '$.path'), "
        "json_extract(details, '$.method')"
    ),
    "postgresql": (
        'id, (EXTRACT(EPOCH FROM "timestamp") * 1000000)::bigint, action_type, '
        "customer_id, session_id, host(ip_address), user_agent, "
        "details ->> 'order_total', details ->> 'quantity', "
        "details ->> 'attempted_email', details ->> 'status', "
        "details ->> 'path', details ->> 'method'"
    ),
}

__all__ = [
    "ENTITY_TYPES",
    "FEATURE_SPECS",
    "FeatureChunks",
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


class FeatureChunks:
    """The rows ``load_features`` would return, as successive time slices.

    ``len()`` is the number of rows. Iterating yields one ``FeatureFrame``
    per slice of about ``chunk_rows`` rows, oldest first, so memory depends
    on the slice size rather than on the number of rows. A slice never
    splits the rows of one instant. Activity slices after the first read one
    day of history before their first row (the widest look-back of any
    feature, the capped gap since an IP's previous event), so their features
    equal those of one ``load_features`` call unless a session lasts longer.
    """

    def __init__(self, entity_type, limit=None, start=None, end=None, chunk_rows=None):
        if entity_type not in ENTITY_TYPES:
            feature_names(entity_type)  # Raises ValueError naming the entity.
        self.entity_type = entity_type
        self.limit, self.start, self.end = limit, start, end
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        if entity_type == EntityType.ACTIVITY:
            keys = _activity_keys(
                _recent(
                    _time_range(UserActivity.objects.all(), "timestamp", start, end),
                    "timestamp",
                    limit,
                )
            )
            ids = keys["id"].to_numpy(dtype=np.int64)
            times = to_utc(keys["timestamp"]).tz_localize(None).to_numpy()
            order = np.lexsort((ids, times))
            self.ids, self.times = ids[order], times[order]
        else:
            self.ids = None
            self.rows = _recent(
                _time_range(Order.objects.all(), "created_at", start, end),
                "created_at",
                limit,
            ).count()

    def __len__(self):
        return self.rows if self.ids is None else len(self.ids)

    def bounds(self):
        """Return the ``(begin, end)`` positions of each slice in time order."""
        total = len(self.ids)
        cuts = [0]
        while cuts[-1] < total:
            target = cuts[-1] + self.chunk_rows
            if target >= total:
                cuts.append(total)
                break
            cut = int(np.searchsorted(self.times, self.times[target], side="left"))
            if cut <= cuts[-1]:
                cut = int(np.searchsorted(self.times, self.times[target], side="right"))
            cuts.append(cut)
        return list(zip(cuts[:-1], cuts[1:], strict=True))

    def __iter__(self):
        if self.ids is None:
            # Orders are few per time span; their prior aggregates come in one go.
            if self.rows:
                yield load_features(self.entity_type, self.limit, self.start, self.end)
            return
        first = True
        for begin, stop in self.bounds():
            start = pd.Timestamp(self.times[begin], tz="UTC").to_pydatetime()
            end = (
                pd.Timestamp(self.times[stop], tz="UTC").to_pydatetime()
                if stop < len(self.ids)
                else self.end
            )
            history = activity.HISTORY_SECONDS if first else CHUNK_HISTORY_SECONDS
            features, times = _load_activity(None, start, end, history)
            if first:
                # The oldest instant may contain rows beyond the limit.
                keep = features.index.isin(self.ids[begin:stop])
                features, times = features.loc[keep], times.loc[keep]
            first = False
            yield FeatureFrame(features, times)


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
    """Read activity rows as a raw frame with one query and no per-row conversion.

    On SQLite and PostgreSQL the query is plain SQL whose details are
    extracted by the database's JSON functions and whose times arrive as text
    or integers, which pandas converts in one vectorised step. Other backends
    go through ``values_list``.
    """
    vendor = connection.vendor
    if vendor not in _ACTIVITY_COLUMNS_SQL:
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
        return pd.DataFrame.from_records(list(rows), columns=ACTIVITY_RAW_COLUMNS)
    return _select(queryset, _ACTIVITY_COLUMNS_SQL[vendor], ACTIVITY_RAW_COLUMNS)


def _activity_keys(queryset):
    """Read the ids and times of activity rows as a frame."""
    vendor = connection.vendor
    if vendor not in _ACTIVITY_COLUMNS_SQL:
        frame = pd.DataFrame.from_records(
            list(queryset.values_list("id", "timestamp")), columns=["id", "timestamp"]
        )
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame
    columns = ", ".join(_ACTIVITY_COLUMNS_SQL[vendor].split(", ")[:2])
    return _select(queryset, columns, ["id", "timestamp"])


def _select(queryset, columns_sql, names):
    # The queryset supplies the conditions, order and limit; only the selected
    # columns are replaced (the id stays first, where ORDER BY may point).
    base_sql, params = queryset.values_list("id").query.sql_with_params()
    head = base_sql.index(" FROM ")
    sql = f"SELECT {columns_sql}{base_sql[head:]}"
    parts = []
    # On PostgreSQL this is a server-side cursor, so the client keeps one
    # batch in memory instead of the whole result (an estimated 1 GB for 10
    # million keys).
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(READ_BATCH_ROWS):
            parts.append(_activity_part(rows, names))
    if not parts:
        return _activity_part([], names)
    return pd.concat(parts, ignore_index=True)


def _activity_part(rows, names):
    frame = pd.DataFrame.from_records(rows, columns=names)
    if connection.vendor == "postgresql":
        frame["timestamp"] = pd.to_datetime(
            frame["timestamp"].astype("int64"), unit="us", utc=True
        )
    else:
        frame["timestamp"] = pd.to_datetime(
            frame["timestamp"], format="ISO8601", utc=True
        )
    for column in _REPEATED_TEXT_COLUMNS:
        if column in frame:
            frame[column] = _shared_strings(frame[column])
    # Typed columns, so that a part whose values are all missing concatenates
    # without changing the dtype; the features coerce the same way.
    if "customer_id" in frame:
        frame["customer_id"] = frame["customer_id"].astype("Int64")
        for column in ("order_total", "quantity"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _shared_strings(values):
    """Return ``values`` with equal strings replaced by one shared object each.

    Missing entries stay as they were. Only the number of string objects
    drops, which lowers the peak memory of a slice (see the 10,000,000-event
    figures in docs/benchmarks.md).
    """
    codes, uniques = pd.factorize(values)
    result = values.to_numpy(dtype=object, copy=True)
    present = codes >= 0
    result[present] = np.asarray(uniques, dtype=object)[codes[present]]
    return pd.Series(result, index=values.index, name=values.name)


def _load_activity(limit, start, end, history_seconds=activity.HISTORY_SECONDS):
    in_range = _time_range(UserActivity.objects.all(), "timestamp", start, end)
    targets = _activity_values(_recent(in_range, "timestamp", limit))
    if targets.empty:
        return FeatureFrame(
            pd.DataFrame(columns=activity.FEATURE_NAMES, dtype=float),
            pd.Series(dtype="datetime64[ns, UTC]"),
        )
    first = targets["timestamp"].min()
    history_start = first - datetime.timedelta(seconds=history_seconds)
    history = _activity_values(
        UserActivity.objects.filter(
            timestamp__gte=history_start, timestamp__lte=first
        ).order_by()
    )
    target_ids = targets["id"]
    history = history.loc[~history["id"].isin(target_ids)]
    if history.empty:
        raw = targets.reset_index(drop=True)
    else:
        raw = pd.concat([history, targets], ignore_index=True)
    del history, targets

    # Customer/IP pairs seen before the loaded rows, for "new IP for customer".
    # Without order_by() the default ordering would join DISTINCT and make it
    # return one row per event instead of one per pair.
    customers_in_range = _time_range(
        UserActivity.objects.filter(
            timestamp__gte=history_start, customer__isnull=False
        ),
        "timestamp",
        None,
        end,
    ).values("customer_id")
    known = set(
        UserActivity.objects.filter(
            timestamp__lt=history_start, customer_id__in=customers_in_range
        )
        .exclude(ip_address=None)
        .order_by()
        .values_list("customer_id", "ip_address")
        .distinct()
    )
    features = activity.build_activity_features(
        raw, known_customer_ips=known, tz=settings.TIME_ZONE
    )
    return _finish(raw, features, "timestamp", target_ids)


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
