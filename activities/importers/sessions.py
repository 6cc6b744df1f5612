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
        key = frame["client"] + "\x1f" + frame["user_agent"]
        order = pd.DataFrame({"key": key, "time": frame["timestamp"]}).sort_values(
            ["key", "time"], kind="stable"
        )
        keys = order["key"]
        times = order["time"]
        first_of_key = (keys != keys.shift()).to_numpy()
        breaks = (times.diff() > self.gap).to_numpy() | first_of_key

        # The first request of a key continues that key's open session from an
        # earlier chunk unless the gap since its last request is too long.
        previous = self.state.reindex(keys[first_of_key])
        known = previous["ordinal"].notna().to_numpy()
        gap_since = pd.Series(times[first_of_key].array) - pd.Series(
            previous["last_time"].array
        )
        continues = known & (gap_since <= self.gap).to_numpy(dtype=bool)
        breaks[np.flatnonzero(first_of_key)] = ~continues
        base = previous["ordinal"].fillna(-1).to_numpy(dtype="int64")
        base_per_row = np.repeat(
            base, np.diff(np.append(np.flatnonzero(first_of_key), len(keys)))
        )
        ordinals = (
            base_per_row
            + pd.Series(breaks).groupby(keys.to_numpy()).cumsum().to_numpy()
        )

        ended = pd.DataFrame(
            {"last_time": times.array, "ordinal": ordinals}, index=keys.to_numpy()
        )
        ended = ended[~ended.index.duplicated(keep="last")]
        self.state = pd.concat([self.state[~self.state.index.isin(ended.index)], ended])

        key_hashes = {value: self._hash_key(value) for value in pd.unique(keys)}
        hashes = pd.Series(keys.map(key_hashes).to_numpy(), index=order.index)
        ids = hashes + "-" + pd.Series(ordinals, index=order.index).astype(str)
        return ids.reindex(frame.index)

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
