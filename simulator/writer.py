"""Bulk writes on Django's own connection: explicit ids, executemany or COPY."""

import json
import logging

import numpy as np
import pandas as pd
from django.db import connection

from simulator.generation import vocabulary as vocab
from simulator.generation.incidents import KIND_CODES

# The engine imports the bulk helpers from here; they live in store.bulk so
# that the access-log importer and the findings writer share them.
from store.bulk import count_rows, deferred_sqlite_indexes, insert_rows  # noqa: F401

logger = logging.getLogger(__name__)


def quote(name):
    return connection.ops.quote_name(name)


def lock_and_max(model, column="id"):
    """Return MAX(column) of the model's table, locked against other writers.

    Must run inside a transaction. SQLite's IMMEDIATE transactions already
    hold the database's write lock; PostgreSQL takes a table lock that lets
    readers through but queues other writers until the commit.
    """
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {table}")
        return int(cursor.fetchone()[0])


def sync_sequences(models):
    """Move PostgreSQL id sequences past explicitly inserted ids; no-op elsewhere."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {quote(table)}",
                [table],
            )


def as_nullable(values):
    """Return a list of Python ints, with None where ``values`` is negative."""
    result = values.astype(object)
    result[values < 0] = None
    return result


def format_times(microseconds):
    """Return timestamps as text the database reads as UTC date-times."""
    text = np.datetime_as_string(np.asarray(microseconds).astype("datetime64[us]"))
    if connection.vendor == "postgresql":
        return (pd.Series(text) + "+00:00").to_numpy(dtype=object)
    # Django stores SQLite date-times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC:
    # overwrite the 'T' at position 10 of each fixed-width string with a space.
    text = np.ascontiguousarray(text, dtype="U26")
    text.view(np.uint32).reshape(-1, 26)[:, 10] = ord(" ")
    return text.astype(object)


def format_cents(cents):
    """Return amounts in cents as decimal strings such as '12.05'."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = pd.Series(cents // 100).astype(str)
    fraction = pd.Series(cents % 100).astype(str).str.zfill(2)
    return (whole + "." + fraction).to_numpy(dtype=object)


def format_ips(ips):
    """Return dotted IPv4 strings for integer addresses."""
    unique, inverse = np.unique(ips, return_inverse=True)
    parts = [
        pd.Series((unique >> shift) & 0xFF).astype(str) for shift in (24, 16, 8, 0)
    ]
    dotted = (parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3]).to_numpy()
    return dotted[inverse].astype(object)


def format_sessions(codes, salt):
    """Return 16-hex-digit session ids, one per distinct session code."""
    unique, inverse = np.unique(codes, return_inverse=True)
    mixed = (unique.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= mixed >> np.uint64(29)
    text = np.char.mod("%016x", mixed).astype(object)
    return text[inverse]


class DetailsBuilder:
    """Build the JSON ``details`` text of events, one vectorised step per action."""

    def __init__(self, world, product_base, urls, terms):
        self.world = world
        self.product_base = product_base
        self.urls = np.array([json.dumps(url) for url in urls], dtype=object)
        self.terms = np.array([json.dumps(term) for term in terms], dtype=object)
        self.emails = np.array([json.dumps(str(e)) for e in world.emails], dtype=object)
        self.fields = np.array(
            list(vocab.PROFILE_FIELDS) + [vocab.TAKEOVER_PROFILE_FIELDS], dtype=object
        )

    def build(self, events, order_ids, order_totals):
        action = events["action"].to_numpy()
        details = np.full(len(events), "{}", dtype=object)

        def product_ids(mask):
            ids = events["product"].to_numpy()[mask] + self.product_base + 1
            return pd.Series(ids).astype(str).to_numpy(dtype=object)

        mask = (action == vocab.VIEW_PRODUCT) | (action == vocab.REMOVE_FROM_CART)
        details[mask] = '{"product_id": ' + product_ids(mask) + "}"
        mask = action == vocab.ADD_TO_CART
        quantity = pd.Series(events["quantity"].to_numpy()[mask]).astype(str)
        details[mask] = (
            '{"product_id": '
            + product_ids(mask)
            + ', "quantity": '
            + quantity.to_numpy(dtype=object)
            + "}"
        )
        mask = action == vocab.VIEW_PAGE
        details[mask] = '{"url": ' + self.urls[events["url"].to_numpy()[mask]] + "}"
        mask = action == vocab.SEARCH
        details[mask] = (
            '{"query": ' + self.terms[events["query"].to_numpy()[mask]] + "}"
        )
        mask = action == vocab.FAILED_LOGIN
        details[mask] = (
            '{"attempted_email": ' + self.emails[events["email"].to_numpy()[mask]] + "}"
        )
        mask = action == vocab.UPDATE_PROFILE
        details[mask] = (
            '{"fields": ' + self.fields[events["fields"].to_numpy()[mask]] + "}"
        )
        mask = action == vocab.PURCHASE
        position = events["order"].to_numpy()[mask]
        details[mask] = (
            '{"order_id": '
            + pd.Series(order_ids[position]).astype(str).to_numpy(dtype=object)
            + ', "order_total": '
            + order_totals[position]
            + "}"
        )
        return details


def kind_names(codes):
    return np.array(KIND_CODES, dtype=object)[codes]
