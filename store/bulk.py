"""Bulk-load helpers shared by the simulator and the importers."""

from django.db import connection


def sqlite_indexes(model):
    """Return (name, CREATE statement) of the model's droppable SQLite indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = %s AND sql IS NOT NULL",
            [model._meta.db_table],
        )
        return cursor.fetchall()


def insert_rows(model, columns, rows):
    """Insert ``rows`` (tuples in ``columns`` order) into the model's table.

    PostgreSQL takes the rows through COPY, SQLite and others through one
    executemany; both run inside the caller's transaction. Values are what the
    driver accepts as query parameters.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column_sql = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})", rows
            )


def count_rows(model):
    """Return the number of rows in the model's table."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {connection.ops.quote_name(model._meta.db_table)}"
        )
        return int(cursor.fetchone()[0])


class deferred_sqlite_indexes:
    """Drop a table's secondary indexes for a bulk load and rebuild them after.

    SQLite builds an index from sorted rows several times faster than it
    updates one row by row. Use inside a transaction, so that a failed load
    rolls the dropped indexes back with the rows. SQLite's DDL is
    transactional, so other connections keep seeing the indexes until the
    commit.
    """

    def __init__(self, models):
        self.models = models
        self.indexes = []

    def __enter__(self):
        with connection.cursor() as cursor:
            for model in self.models:
                for name, sql in sqlite_indexes(model):
                    self.indexes.append(sql)
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            with connection.cursor() as cursor:
                for sql in self.indexes:
                    cursor.execute(sql)
        return False
