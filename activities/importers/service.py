"""Import one access-log file as a batch of activity events, and list or remove imports."""

import gc
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from activities.importers.chunks import ChunkParser, worker_count
from activities.importers.parser import (
    DEFAULT_CHUNK_BYTES,
    RejectedLines,
    iter_byte_chunks,
    open_log,
    scan_content,
)
from activities.importers.rules import DEFAULT_RULES, load_rules
from activities.importers.sessions import DEFAULT_SESSION_GAP_MINUTES, SessionTracker
from activities.importers.storage import RowWriter, assemble_rows
from activities.models import UserActivity
from store.bulk import count_rows, deferred_sqlite_indexes
from store.models import DataBatch, Source

logger = logging.getLogger(__name__)

BATCH_KIND = "access_log"
# On SQLite, a file of at least this many lines, and no fewer than the
# activity table already holds, is loaded with the table's secondary indexes
# dropped and rebuilt before the commit: SQLite builds an index from sorted
# rows faster than it updates it row by row, and the rebuild reads the whole
# table, so it pays only when the load is large next to the table. Other
# connections keep seeing the indexes, because SQLite's DDL is transactional.
SQLITE_BULK_MIN_LINES = 100_000


class AlreadyImported(Exception):
    """The file's content was imported before; nothing was written."""

    def __init__(self, path, batch):
        self.batch = batch
        super().__init__(
            f"{path} is already imported as batch {batch.pk} "
            f"({batch.label}, {batch.created_at:%Y-%m-%d %H:%M} UTC); "
            "remove that batch first to import it again."
        )


class NothingToImport(Exception):
    """No line of the file is an access-log line; nothing was written."""


@dataclass
class ImportResult:
    """Counts and samples from one file's import."""

    path: str
    batch: DataBatch | None = None
    lines_read: int = 0
    imported: int = 0
    rejected: RejectedLines = field(default_factory=RejectedLines)
    clients: set = field(default_factory=set)
    first_time: pd.Timestamp | None = None
    last_time: pd.Timestamp | None = None
    zone_less_lines: int = 0
    malformed_requests: int = 0
    actions: dict = field(default_factory=dict)
    sessions: int = 0
    seconds: float = 0.0
    # Seconds the writer spent storing rows (overlapping the parse).
    write_seconds: float = 0.0
    # Whether the activity table's indexes were rebuilt after the load.
    deferred_indexes: bool = False
    # Parser processes used (0: parsed in the importing process).
    parser_workers: int = 0

    def stats(self):
        """Return the summary as plain JSON-ready values, as stored on the batch."""
        return {
            "lines_read": self.lines_read,
            "imported": self.imported,
            "skipped": self.rejected.total,
            "skipped_by_reason": dict(self.rejected.counts),
            "skipped_samples": self.rejected.samples,
            "distinct_clients": len(self.clients),
            "sessions": self.sessions,
            "first_timestamp": _isoformat(self.first_time),
            "last_timestamp": _isoformat(self.last_time),
            "zone_less_lines": self.zone_less_lines,
            "malformed_requests": self.malformed_requests,
            "actions": dict(sorted(self.actions.items())),
            "seconds": round(self.seconds, 3),
            "write_seconds": round(self.write_seconds, 3),
            "deferred_indexes": self.deferred_indexes,
            "parser_workers": self.parser_workers,
        }


def _isoformat(value):
    return None if value is None else value.isoformat()


def resolve_rules(rules_path=None):
    """Return the rule set from ``rules_path``, the settings entry, or the defaults."""
    path = rules_path or getattr(settings, "ANOMALENS_ACCESS_LOG_RULES", "")
    if path:
        return load_rules(path), str(path)
    return DEFAULT_RULES, "defaults"


def import_access_log(
    path,
    *,
    rules=None,
    rules_origin="defaults",
    session_gap_minutes=DEFAULT_SESSION_GAP_MINUTES,
    naive_time_zone="UTC",
    chunk_bytes=DEFAULT_CHUNK_BYTES,
    max_samples=10,
    parser_workers=0,
    progress=None,
):
    """Import one plain or gzip access-log file as a DataBatch of UserActivity rows.

    The whole file is written in one transaction, so a failure leaves nothing
    behind. ``progress``, if given, is called with the number of decompressed
    bytes after each chunk. ``parser_workers`` processes parse the chunks of a
    large file while this one stores them (0: parse here). Raises AlreadyImported when a batch with the same
    content digest exists and NothingToImport when no line could be parsed.
    """
    path = Path(path)
    rules = rules or DEFAULT_RULES
    started = time.perf_counter()
    digest, line_count = scan_content(path)
    existing = DataBatch.objects.filter(kind=BATCH_KIND, content_sha256=digest).first()
    if existing is not None:
        raise AlreadyImported(path, existing)

    logger.info(
        "Importing access log %s (sha256 %s, %d lines)", path, digest[:12], line_count
    )
    result = ImportResult(path=str(path), rejected=RejectedLines(max_samples))
    result.parser_workers = worker_count(line_count, parser_workers)
    tracker = SessionTracker(digest, session_gap_minutes)
    # Each chunk allocates millions of short-lived tuples and strings, which
    # trigger the cyclic collector over and over (about a tenth of the parse
    # time); reference counting still frees them, and cycles wait until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with transaction.atomic():
            batch = DataBatch.objects.create(
                source=Source.IMPORT,
                kind=BATCH_KIND,
                label=path.name,
                content_sha256=digest,
                parameters={
                    "session_gap_minutes": session_gap_minutes,
                    "naive_time_zone": naive_time_zone,
                    "rules": rules_origin,
                },
            )
            result.deferred_indexes = _defer_indexes(line_count)
            parser = ChunkParser(
                result.parser_workers,
                batch_id=batch.pk,
                rules=rules,
                naive_time_zone=naive_time_zone,
                vendor=connection.vendor,
                samples=max_samples,
            )
            # Parser processes start first, before the writer thread exists.
            # Chunk N is written in a background thread while chunk N+1 is
            # parsed; the writer uses this transaction's connection.
            with (
                parser,
                open_log(path) as stream,
                _maybe_deferred_indexes(result.deferred_indexes),
                RowWriter() as writer,
            ):
                chunks = iter_byte_chunks(stream, chunk_bytes)
                for size, chunk in parser.parse(chunks):
                    rows = _add_chunk(chunk, tracker, result, connection.vendor)
                    if rows is not None:
                        writer.submit(rows)
                    if progress is not None:
                        progress(size)
            result.imported = writer.written
            result.write_seconds = writer.seconds
            if result.imported == 0:
                raise NothingToImport(
                    f"none of its {result.lines_read} lines is an access-log "
                    "line in common or combined format; nothing was imported."
                )
            result.sessions = tracker.session_count
            result.seconds = time.perf_counter() - started
            batch.stats = result.stats()
            batch.save(update_fields=["stats"])
    except IntegrityError as exc:
        # Another import of the same content committed between the check and
        # this transaction; the unique (kind, content_sha256) constraint fired.
        existing = DataBatch.objects.filter(
            kind=BATCH_KIND, content_sha256=digest
        ).first()
        if existing is None:
            raise
        raise AlreadyImported(path, existing) from exc
    finally:
        if collecting:
            gc.enable()

    result.batch = batch
    logger.info(
        "Imported %s as batch %s: %d of %d lines in %.1f s",
        path,
        batch.pk,
        result.imported,
        result.lines_read,
        result.seconds,
    )
    return result


def _defer_indexes(line_count):
    """Return whether to rebuild the activity indexes after loading ``line_count``."""
    if connection.vendor != "sqlite" or line_count < SQLITE_BULK_MIN_LINES:
        return False
    return count_rows(UserActivity) <= line_count


def _maybe_deferred_indexes(defer):
    return deferred_sqlite_indexes([UserActivity]) if defer else nullcontext()


def _add_chunk(chunk, tracker, result, vendor):
    """Add a parsed chunk to the result; return its rows to write, or None."""
    result.lines_read += chunk.lines
    result.rejected.merge(chunk.rejected)
    if chunk.keys.empty:
        return None
    session_ids = tracker.assign(chunk.keys)
    result.clients.update(chunk.clients)
    result.first_time = (
        chunk.first_time
        if result.first_time is None
        else min(result.first_time, chunk.first_time)
    )
    result.last_time = (
        chunk.last_time
        if result.last_time is None
        else max(result.last_time, chunk.last_time)
    )
    result.zone_less_lines += chunk.zone_less_lines
    result.malformed_requests += chunk.malformed_requests
    for action, count in chunk.actions.items():
        result.actions[action] = result.actions.get(action, 0) + count
    return assemble_rows(chunk.encoded, session_ids.to_numpy(dtype=object), vendor)


def list_imports():
    """Return the access-log batches, newest first, with their stored row counts."""
    batches = DataBatch.objects.filter(kind=BATCH_KIND).order_by("-created_at", "-pk")
    counts = dict(
        UserActivity.objects.filter(batch__kind=BATCH_KIND)
        .values_list("batch_id")
        .annotate(rows=Count("id"))
        .values_list("batch_id", "rows")
    )
    return [(batch, counts.get(batch.pk, 0)) for batch in batches]


def remove_import(batch_id):
    """Delete an access-log batch and its activity rows; return the rows deleted."""
    batch = DataBatch.objects.filter(kind=BATCH_KIND, pk=batch_id).first()
    if batch is None:
        raise DataBatch.DoesNotExist(
            f"No access-log batch with id {batch_id}; list them with --list."
        )
    with transaction.atomic():
        # UserActivity has no dependents or delete signals, so Django issues a
        # single DELETE instead of loading the rows.
        deleted, _ = UserActivity.objects.filter(batch=batch).delete()
        batch.delete()
    logger.info("Removed access-log batch %s with %d activities", batch_id, deleted)
    return deleted
