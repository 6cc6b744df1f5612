"""Write parsed requests into the activity table in bulk.

Rows are built column by column: every text that goes into the database (a
JSON fragment of the details, an escaped user agent) is encoded once per
distinct value and then expanded by the factorised codes, so no Python loop
runs over the rows. A ``RowWriter`` writes chunk N in a background thread while the
caller parses chunk N+1: ``COPY`` on PostgreSQL, and on SQLite an
``executemany`` into an index-free staging table followed by one
``INSERT ... SELECT`` that maintains the indexes with the GIL released.
"""

import logging
import queue
import threading
import time
from functools import reduce
from json.encoder import encode_basestring

import numpy as np
import pandas as pd
from django.db import DEFAULT_DB_ALIAS, connections

from activities.models import UserActivity
from store.models import Source

logger = logging.getLogger(__name__)

# Request fields kept in each activity's details, in this order, with the
# frame column each one comes from.
DETAIL_FIELDS = [
    ("method", "method"),
    ("path", "path"),
    ("query", "query"),
    ("status", "status"),
    ("bytes", "bytes"),
    ("referrer", "referrer"),
    ("protocol", "protocol"),
    ("vhost", "vhost"),
    ("url", "target"),
    ("remote_user", "remote_user"),
    ("request", "request"),
]
DETAIL_COLUMNS = [name for name, _ in DETAIL_FIELDS]
# Table columns written, in this order. customer_id stays NULL.
TABLE_COLUMNS = [
    "source",
    "batch_id",
    "timestamp",
    "action_type",
    "details",
    "ip_address",
    "user_agent",
    "session_id",
]
# SQLite page cache for the import connection, in KiB (a cap, not an
# allocation). Index inserts into a cold 2 MiB default cache spill pages to the
# WAL mid-transaction and run at about two thirds of the speed.
SQLITE_IMPORT_CACHE_KIB = 256 * 1024
STAGING_TABLE = "access_log_import_staging"
# Chunks parsed ahead of the writer. Each waiting chunk costs memory.
QUEUE_DEPTH = 1


def _encode_distinct(values, encode, null):
    """Return ``encode(value)`` for every value, computed once per distinct value.

    Missing values (None, NaN, NA) become ``null``.
    """
    codes, encoded = _distinct_codes(values, encode, null)
    return encoded[codes]


def _distinct_codes(values, encode, null):
    """Return (codes, encoded distinct values) with ``null`` as the last entry."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    encoded = [encode(value) for value in np.asarray(uniques, dtype=object)]
    return codes, np.array([*encoded, null], dtype=object)


# Detail fields are joined into groups while a group has at most this many
# distinct combinations per row; each group's text is then built once per
# combination, so only a few string concatenations run per row.
MAX_GROUP_SHARE = 0.25


def details_json(frame, escape=None):
    """Return each row's details as one compact JSON object string.

    ``escape``, if given, is applied to every fragment (for example the
    backslash doubling of PostgreSQL's COPY text format). It runs once per
    distinct fragment, not once per row.
    """
    fields = [
        _detail_fragments(
            frame[column], ("{" if index == 0 else ",") + f'"{key}":', escape
        )
        for index, (key, column) in enumerate(DETAIL_FIELDS)
    ]
    limit = max(1, int(len(frame) * MAX_GROUP_SHARE))
    pieces = []
    group_codes, group_texts = fields[0]
    for codes, texts in fields[1:]:
        joined = _join_fields(group_codes, group_texts, codes, texts, limit)
        if joined is None:
            pieces.append(group_texts[group_codes])
            group_codes, group_texts = codes, texts
        else:
            group_codes, group_texts = joined
    pieces.append(group_texts[group_codes])
    return reduce(np.add, pieces) + "}"


def _detail_fragments(values, prefix, escape):
    """Return (codes, ``prefix`` + JSON text per distinct value, null last)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    if pd.api.types.is_integer_dtype(values.dtype):
        encoded = np.asarray(uniques, dtype=np.int64).astype(str).astype(object)
    else:
        # The C string encoder behind json.dumps(ensure_ascii=False); every
        # non-missing value here is a string.
        encoded = np.array(list(map(encode_basestring, uniques)), dtype=object)
    texts = np.append(prefix + encoded, prefix + "null").astype(object)
    if escape is not None:
        texts = np.array(list(map(escape, texts)), dtype=object)
    return codes, texts


def _join_fields(left_codes, left_texts, right_codes, right_texts, limit):
    """Concatenate two encoded fields per distinct pair, or None past ``limit`` pairs."""
    pair = left_codes.astype(np.int64) * len(right_texts) + right_codes
    codes, pairs = pd.factorize(pair)
    if len(pairs) > limit:
        return None
    texts = (
        left_texts[pairs // len(right_texts)] + right_texts[pairs % len(right_texts)]
    )
    return codes, texts


def _escaped(text, escape):
    return text if escape is None else escape(text)


def _copy_text_escape(text):
    r"""Escape a value for PostgreSQL's COPY text format (\\, tab, newline, CR)."""
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _timestamp_text(timestamps, suffix=""):
    """Return UTC times as ``YYYY-MM-DD HH:MM:SS`` strings, vectorised."""
    seconds = timestamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    # Replace the ISO "T" by a space through a code-point view of the array.
    points = text.view(np.uint32).reshape(len(text), -1)
    points[:, 10] = ord(" ")
    text = text.astype(object)
    return text + suffix if suffix else text


def encode_rows(frame, batch_id, vendor):
    """Encode every stored field of parsed requests except their session ids.

    On PostgreSQL the result is one ``COPY`` text line per row without its
    last field and newline; elsewhere it is a list of columns in
    TABLE_COLUMNS order without the last one. ``assemble_rows`` adds the
    session ids, which depend on earlier chunks, so that this part can run in
    a parser process.
    """
    frame = frame.reset_index(drop=True)
    if vendor == "postgresql":
        return (
            f"{Source.IMPORT.value}\t{batch_id}\t"
            + _timestamp_text(frame["timestamp"], "+00")
            + "\t"
            + frame["action_type"].to_numpy(dtype=object)
            + "\t"
            + details_json(frame, escape=_copy_text_escape)
            + "\t"
            + _encode_distinct(frame["ip_address"], str, "\\N")
            + "\t"
            + _encode_distinct(frame["user_agent"], _copy_text_escape, "")
            + "\t"
        )
    # SQLite stores times as naive UTC text, written like Django writes them
    # (no fraction for whole seconds, which log times always are).
    ip_address = frame["ip_address"].to_numpy(dtype=object)
    return [
        [Source.IMPORT.value] * len(frame),
        [batch_id] * len(frame),
        _timestamp_text(frame["timestamp"]).tolist(),
        frame["action_type"].tolist(),
        details_json(frame).tolist(),
        np.where(pd.isna(ip_address), None, ip_address).tolist(),
        frame["user_agent"].tolist(),
    ]


def assemble_rows(encoded, session_ids, vendor):
    """Return the rows to write from ``encode_rows`` output and the session ids.

    On PostgreSQL the result is the text of a ``COPY ... FROM STDIN``; elsewhere
    it is a list of parameter tuples in TABLE_COLUMNS order.
    """
    session_ids = np.asarray(session_ids, dtype=object)
    if vendor == "postgresql":
        # Session ids are hex digits, a dash and a number: nothing to escape.
        return "".join((encoded + session_ids + "\n").tolist())
    return list(zip(*encoded, session_ids.tolist(), strict=True))


def build_rows(frame, batch_id, vendor):
    """Return the table rows for parsed requests, encoded for ``vendor``."""
    return assemble_rows(
        encode_rows(frame, batch_id, vendor), frame["session_id"], vendor
    )


def write_rows(rows, connection):
    """Insert rows built by build_rows; return the number of rows written."""
    table = connection.ops.quote_name(UserActivity._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in TABLE_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if not rows:
                return 0
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(rows)
            return rows.count("\n")
        if not rows:
            return 0
        placeholders = ", ".join(["%s"] * len(TABLE_COLUMNS))
        if connection.vendor != "sqlite":
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows
            )
            return len(rows)
        # Binding parameters needs the GIL for every row, but the one INSERT
        # ... SELECT below runs entirely inside SQLite with the GIL released,
        # so index maintenance overlaps with the parse of the next chunk.
        staging = connection.ops.quote_name(STAGING_TABLE)
        cursor.executemany(
            f"INSERT INTO {staging} ({columns}) VALUES ({placeholders})", rows
        )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "
            "ORDER BY rowid"
        )
        cursor.execute(f"DELETE FROM {staging}")
    return len(rows)


class RowWriter:
    """Write chunks of rows in a background thread on the caller's connection.

    Use as a context manager inside the caller's transaction. ``submit``
    blocks while ``QUEUE_DEPTH`` chunks are already waiting, which bounds
    memory. The caller must not use the database connection until the block
    ends; an error in the writer is raised again from ``submit`` or on exit.
    """

    def __init__(self, using=DEFAULT_DB_ALIAS, threaded=True):
        self.connection = connections[using]
        self.threaded = threaded
        self.written = 0
        self.seconds = 0.0
        self._queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error = None
        self._thread = None
        self._cache_size = None

    def __enter__(self):
        if self.connection.vendor == "sqlite":
            self._prepare_sqlite()
        if self.threaded:
            self.connection.inc_thread_sharing()
            self._thread = threading.Thread(
                target=self._run, name="access-log-writer", daemon=True
            )
            self._thread.start()
        return self

    def submit(self, rows):
        """Queue rows built by ``assemble_rows`` for writing."""
        self._raise_error()
        if not self.threaded:
            self._write(rows)
            return
        while True:
            try:
                self._queue.put(rows, timeout=0.5)
                return
            except queue.Full:
                self._raise_error()

    def __exit__(self, exc_type, exc, traceback):
        try:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self.connection.dec_thread_sharing()
            if self.connection.vendor == "sqlite":
                self._restore_sqlite()
        finally:
            if exc_type is None:
                self._raise_error()

    def _run(self):
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(rows)
                except BaseException as error:  # noqa: BLE001 - re-raised in caller
                    self._error = error

    def _write(self, rows):
        started = time.perf_counter()
        self.written += write_rows(rows, self.connection)
        self.seconds += time.perf_counter() - started

    def _raise_error(self):
        if self._error is not None:
            raise self._error

    def _prepare_sqlite(self):
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            self._cache_size = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
            # A TEMP table is private to this connection and never touches the
            # main database file; it has the table's columns but no indexes.
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {quote(STAGING_TABLE)} AS "
                f"SELECT {', '.join(quote(name) for name in TABLE_COLUMNS)} "
                f"FROM {quote(UserActivity._meta.db_table)} WHERE 0"
            )
            cursor.execute(f"DELETE FROM {quote(STAGING_TABLE)}")

    def _restore_sqlite(self):
        with self.connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{STAGING_TABLE}")
            if self._cache_size is not None:
                cursor.execute(f"PRAGMA cache_size = {int(self._cache_size)}")
