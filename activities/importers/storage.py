"""Write parsed requests into the activity table in bulk."""

import io

import pandas as pd
from django.db import connection

from activities.models import UserActivity
from store.models import Source

# Request fields kept in each activity's details, in this order.
DETAIL_COLUMNS = [
    "method",
    "path",
    "query",
    "status",
    "bytes",
    "referrer",
    "protocol",
    "vhost",
    "url",
    "remote_user",
    "request",
]
# Table columns written, in COPY order; customer_id stays NULL.
TABLE_COLUMNS = [
    "source",
    "batch_id",
    "session_id",
    "timestamp",
    "action_type",
    "details",
    "ip_address",
    "user_agent",
]
# Text columns where an empty CSV field means an empty string, not NULL.
NOT_NULL_TEXT_COLUMNS = ["source", "session_id", "action_type", "user_agent"]


def build_rows(frame, batch_id):
    """Return the table rows for parsed requests as a DataFrame in TABLE_COLUMNS order."""
    frame = frame.reset_index(drop=True)
    details = frame[DETAIL_COLUMNS[:-3]].copy()
    details["url"] = frame["target"]
    details["remote_user"] = frame["remote_user"]
    details["request"] = frame["request"]
    # One C-level serialisation for the whole frame, one JSON object a line.
    # Split on "\n" only: JSON escapes it inside strings, but str.splitlines
    # would also split on U+2028 and other separators that may appear raw.
    details_json = details.to_json(
        orient="records", lines=True, force_ascii=False, date_format="iso"
    )
    return pd.DataFrame(
        {
            "source": Source.IMPORT.value,
            "batch_id": batch_id,
            "session_id": frame["session_id"],
            "timestamp": frame["timestamp"],
            "action_type": frame["action_type"],
            "details": pd.Series(details_json.rstrip("\n").split("\n")),
            "ip_address": frame["ip_address"],
            "user_agent": frame["user_agent"],
        }
    )


def write_rows(rows):
    """Insert rows built by build_rows; COPY on PostgreSQL, executemany elsewhere."""
    if rows.empty:
        return 0
    table = UserActivity._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in TABLE_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            not_null = ", ".join(quote(name) for name in NOT_NULL_TEXT_COLUMNS)
            sql = (
                f"COPY {quote(table)} ({columns}) FROM STDIN WITH "
                f"(FORMAT csv, FORCE_NOT_NULL ({not_null}))"
            )
            buffer = io.StringIO()
            rows.to_csv(buffer, header=False, index=False, date_format=None)
            with cursor.cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
        else:
            # Other backends store aware times as naive UTC text.
            rows = rows.assign(
                timestamp=rows["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"),
                ip_address=rows["ip_address"]
                .astype(object)
                .where(rows["ip_address"].notna(), None),
            )
            placeholders = ", ".join(["%s"] * len(TABLE_COLUMNS))
            cursor.executemany(
                f"INSERT INTO {quote(table)} ({columns}) VALUES ({placeholders})",
                list(rows.itertuples(index=False, name=None)),
            )
    return len(rows)
