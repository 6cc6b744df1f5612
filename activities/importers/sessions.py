"""Infer visitor sessions from requests: one client address and user agent, no long gap."""

import hashlib

import numpy as np
import pandas as pd

DEFAULT_SESSION_GAP_MINUTES = 30


class SessionTracker:
    """Assign session ids chunk by chunk, carrying open sessions across chunks.

    A session is a run of requests from one (client, user agent) pair in which
    no two consecutive requests are more than ``gap`` apart. Ids have the form
    ``<key hash>-<ordinal>``: the hash covers the file's content digest, the
    client and the user agent, and the ordinal counts that pair's sessions from
    0, so importing the same file again yields the same ids.

    NOTE: a line that arrives in a later chunk but is older than the last
    request of its pair in an earlier chunk joins that pair's current session
    rather than being re-sorted into an earlier one; logs are written in time
    order, so only requests logged out of order near a chunk boundary are
    affected.
    """

    def __init__(self, content_sha256, gap_minutes=DEFAULT_SESSION_GAP_MINUTES):
        self.salt = content_sha256[:16]
        self.gap = pd.Timedelta(minutes=gap_minutes)
        # Per key: the last request time and the ordinal of the open session.
        self.state = pd.DataFrame(
            {
                "last_time": pd.Series(dtype="datetime64[ns, UTC]"),
                "ordinal": pd.Series(dtype="int64"),
            }
        )
        self.key_hashes = {}

    def assign(self, frame):
        """Return session ids for the rows of ``frame`` (index-aligned)."""
        if frame.empty:
            return pd.Series([], index=frame.index, dtype=object)
        # Integer codes for the (client, user agent) pairs: hashing and integer
        # sorting instead of building and sorting one string per row.
        client_codes, clients = pd.factorize(frame["client"])
        agent_codes, agents = pd.factorize(frame["user_agent"])
        pair_codes, pairs = pd.factorize(
            client_codes.astype(np.int64) * len(agents) + agent_codes
        )
        pair_keys = (
            pd.Series(clients[pairs // len(agents)], dtype=object)
            + "\x1f"
            + pd.Series(agents[pairs % len(agents)], dtype=object)
        ).to_numpy(dtype=object)

        times_all = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
        # Sort by pair, then time. lexsort is stable, as sort_values(kind="stable") was.
        order = np.lexsort((times_all.view(np.int64), pair_codes))
        codes = pair_codes[order]
        times = times_all[order]
        first_of_key = np.ones(len(codes), dtype=bool)
        first_of_key[1:] = codes[1:] != codes[:-1]
        breaks = np.zeros(len(codes), dtype=bool)
        breaks[1:] = (times[1:] - times[:-1]) > self.gap.to_timedelta64()
        breaks |= first_of_key

        # The first request of a key continues that key's open session from an
        # earlier chunk unless the gap since its last request is too long.
        first_rows = np.flatnonzero(first_of_key)
        first_keys = pair_keys[codes[first_rows]]
        previous = self.state.reindex(first_keys)
        known = previous["ordinal"].notna().to_numpy()
        gap_since = times[first_rows] - previous["last_time"].to_numpy(
            dtype="datetime64[ns]"
        )
        continues = known & (gap_since <= self.gap.to_timedelta64())
        breaks[first_rows] = ~continues
        base = previous["ordinal"].fillna(-1).to_numpy(dtype="int64")
        run_lengths = np.diff(np.append(first_rows, len(codes)))
        # Rows of one key are contiguous, so a cumulative sum restarted at each
        # key's first row counts that key's session breaks.
        counts = np.cumsum(breaks)
        counts -= np.repeat(counts[first_rows] - breaks[first_rows], run_lengths)
        ordinals = np.repeat(base, run_lengths) + counts

        last_rows = np.append(first_rows[1:], len(codes)) - 1
        ended = pd.DataFrame(
            {
                "last_time": pd.DatetimeIndex(times[last_rows]).tz_localize("UTC"),
                "ordinal": ordinals[last_rows],
            },
            index=first_keys,
        )
        self.state = pd.concat([self.state[~self.state.index.isin(ended.index)], ended])

        # One id string per distinct (key, ordinal) session, then expanded.
        hashes = np.array([self._hash_key(key) for key in pair_keys], dtype=object)
        session_codes, sessions = pd.factorize(
            codes.astype(np.int64) * (int(ordinals.max()) + 1) + ordinals
        )
        span = int(ordinals.max()) + 1
        session_ids = (
            hashes[sessions // span]
            + "-"
            + (sessions % span).astype(str).astype(object)
        )
        ids = np.empty(len(codes), dtype=object)
        ids[order] = session_ids[session_codes]
        return pd.Series(ids, index=frame.index)

    def _hash_key(self, key):
        cached = self.key_hashes.get(key)
        if cached is None:
            digest = hashlib.sha256(f"{self.salt}\x1f{key}".encode()).hexdigest()
            cached = self.key_hashes[key] = digest[:24]
        return cached

    @property
    def session_count(self):
        """Number of sessions seen so far across all keys."""
        return int((self.state["ordinal"] + 1).sum())
