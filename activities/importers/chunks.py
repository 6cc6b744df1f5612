"""Parse chunks of an access log, in this process or in parser processes.

``parse_block`` does all the work on one chunk that does not depend on the
chunks before it: decoding, parsing, action rules, the chunk's summary
counts and the encoding of every stored field except the session id. It
takes raw bytes and returns plain arrays, so it can run in a worker process
while this process infers sessions and writes the previous chunks.
"""

import logging
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from activities.importers.parser import RejectedLines, decode_chunk, parse_chunk
from activities.importers.rules import assign_actions
from activities.importers.storage import encode_rows

logger = logging.getLogger(__name__)

# Columns the session tracker reads; the parent gets only these of the frame.
SESSION_COLUMNS = ["client", "user_agent", "timestamp"]
# Files shorter than this are parsed in the importing process: starting the
# workers and moving chunks between processes would cost more than it saves.
PARALLEL_MIN_LINES = 50_000


@dataclass
class ParsedChunk:
    """What the import needs from one parsed chunk."""

    lines: int
    rejected: RejectedLines
    # client, user_agent and timestamp of each request, for the sessions.
    keys: pd.DataFrame
    # encode_rows output: every stored field but the session id.
    encoded: object = None
    clients: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    first_time: pd.Timestamp | None = None
    last_time: pd.Timestamp | None = None
    zone_less_lines: int = 0
    malformed_requests: int = 0
    actions: dict = field(default_factory=dict)


def parse_block(raw, first_line, *, batch_id, rules, naive_time_zone, vendor, samples):
    """Parse raw log bytes that end with a newline into a ParsedChunk."""
    text = decode_chunk(raw)
    rejected = RejectedLines(samples)
    frame = parse_chunk(text, first_line, rejected, naive_time_zone)
    chunk = ParsedChunk(
        lines=text.count("\n"),
        rejected=rejected,
        keys=frame[SESSION_COLUMNS],
    )
    if frame.empty:
        return chunk
    frame["action_type"] = assign_actions(frame, rules)
    chunk.encoded = encode_rows(frame, batch_id, vendor)
    chunk.clients = pd.unique(frame["client"])
    chunk.first_time = frame["timestamp"].min()
    chunk.last_time = frame["timestamp"].max()
    chunk.zone_less_lines = int(frame["naive_time"].sum())
    chunk.malformed_requests = int(frame["method"].isna().sum())
    chunk.actions = {
        action: int(count)
        for action, count in frame["action_type"].value_counts().items()
    }
    return chunk


class ChunkParser:
    """Parse byte chunks in order, in ``workers`` processes or, with 0, in this one.

    Use as a context manager. ``parse`` yields (bytes read, ParsedChunk) in
    file order, with line numbers counted across chunks. With workers, up to
    ``workers + 1`` chunks are parsed ahead of the one yielded; the processes
    start in ``__enter__``, so open this before any thread that holds locks.
    """

    def __init__(self, workers, **options):
        self.workers = workers
        self.options = options
        self._pool = None

    def __enter__(self):
        if self.workers > 0:
            # A forked worker shares the imported modules, so it starts at
            # once, whereas a spawned one would import Django and pandas again.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork")
            )
            # With fork, the first submit starts every worker process.
            self._pool.submit(int).result()
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return False

    def parse(self, chunks):
        """Yield (bytes read, ParsedChunk) for (bytes read, raw bytes) chunks."""
        first_line = 1
        if self._pool is None:
            for size, raw in chunks:
                yield size, parse_block(raw, first_line, **self.options)
                first_line += raw.count(b"\n")
            return
        pending = deque()
        for size, raw in chunks:
            pending.append(
                (size, self._pool.submit(parse_block, raw, first_line, **self.options))
            )
            first_line += raw.count(b"\n")
            if len(pending) > self.workers:
                size, future = pending.popleft()
                yield size, future.result()
        while pending:
            size, future = pending.popleft()
            yield size, future.result()


def worker_count(lines, requested):
    """Return how many parser processes to use for a file of ``lines`` lines."""
    if requested <= 0 or lines < PARALLEL_MIN_LINES:
        return 0
    # A daemonic process (a django-q2 worker, say) may not have children.
    if multiprocessing.current_process().daemon:
        return 0
    return requested
