"""Per-client aggregates of web traffic, computed per event over a look-back window.

A client is an IP address. Each event gets figures about its client's requests
in the window that ends at the event (see ``common`` for the window rule), so
that one request of a scanner carries the scanner's whole recent behaviour.
The access-log importer stores ``status``, ``path`` and ``method`` in an
event's details. Events without them (simulated traffic, API inserts) get 0 in
the columns that need them, and the rate and user-agent columns still apply.
"""

import re

import numpy as np
import pandas as pd

from .common import (
    MICROS_PER_SECOND,
    count_at_or_before,
    group_codes,
    to_micros,
    window_count,
    window_distinct,
)

# Columns read from each event's details, in addition to the activity columns.
RAW_COLUMNS = ["status", "path", "method"]

# Look-back window. It must not exceed activity.HISTORY_SECONDS, the history
# the loader reads before the first requested row.
WINDOW_SECONDS = 3600
# Shortest span a rate is computed over, so a client's first request does not
# give an unbounded rate.
MIN_RATE_SPAN_SECONDS = 60

LOGIN_PATH = re.compile(
    r"log-?in|sign-?in|logon|auth|session|wp-login|xmlrpc\.php|/account/?$",
    re.IGNORECASE,
)
# Paths that vulnerability scanners probe and a shop does not serve.
PROBE_PATH = re.compile(
    r"\.(?:php|asp|aspx|jsp|cgi|env|git|sql|bak|ini)\b|/wp-|phpmyadmin|pma/|"
    r"cgi-bin|/\.|\.\./|/etc/passwd|/admin|/manager/|/boaform|/HNAP1",
    re.IGNORECASE,
)

FEATURE_NAMES = [
    "client_requests_1h",
    "client_requests_per_minute",
    "client_status_4xx_share",
    "client_distinct_paths_1h",
    "client_login_path_share",
    "client_probe_path_share",
    "client_malformed_request_share",
    "client_automated_agent_share",
    "client_distinct_user_agents_1h",
]


def _column(raw, name):
    if name in raw.columns:
        return raw[name]
    return pd.Series(None, index=raw.index, dtype=object)


def _status_codes(raw):
    return pd.to_numeric(_column(raw, "status"), errors="coerce").to_numpy(dtype=float)


def window_start_times(groups, times, window_us):
    """Return the time of the group's earliest row inside each row's window."""
    groups = np.asarray(groups, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    order = np.lexsort((times, groups))
    sorted_groups = groups[order]
    positions = np.arange(len(order))
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    group_start_sorted = np.maximum.accumulate(np.where(starts, positions, 0))
    group_start = np.empty_like(group_start_sorted)
    group_start[order] = group_start_sorted

    # Rows of the group at or before t - W come first in sorted order, so the
    # earliest row inside the window sits right after them.
    expired = count_at_or_before(groups, times, groups, times - window_us)
    return times[order][group_start + expired]


def build_client_features(raw, automated):
    """Compute the ``client_*`` columns for every row of ``raw``, on its index.

    ``raw`` has ``timestamp``, ``ip_address`` and ``user_agent`` columns and,
    for imported web traffic, ``status``, ``path`` and ``method``.
    ``automated`` is a boolean array, aligned to the rows, marking user agents
    that look like programs rather than browsers. Shares are fractions from 0
    to 1 of the client's requests in the window, the 4xx share of those with a
    status.
    """
    window_us = WINDOW_SECONDS * MICROS_PER_SECOND
    times = to_micros(raw["timestamp"])
    ip = raw["ip_address"].where(raw["ip_address"].astype(str).ne(""), None)
    groups = group_codes(ip)

    status = _status_codes(raw)
    has_status = ~np.isnan(status)
    path = _column(raw, "path")
    path = path.where(path.notna(), None)
    has_path = path.notna().to_numpy()
    path_text = path.fillna("").astype(str)
    method = _column(raw, "method")
    # A request line that is not "METHOD target" (empty, binary junk) has a
    # status but no method.
    malformed = has_status & method.isna().to_numpy()

    requests = window_count(groups, times, window_us).astype(float)

    def share(mask, denominator=requests):
        counts = window_count(groups, times, window_us, mask=mask)
        return counts / np.maximum(denominator, 1)

    with_status = window_count(groups, times, window_us, mask=has_status)
    earliest = window_start_times(groups, times, window_us)
    span_seconds = np.maximum(
        (times - earliest) / MICROS_PER_SECOND, MIN_RATE_SPAN_SECONDS
    )
    login = has_path & path_text.str.contains(LOGIN_PATH).to_numpy()
    probe = has_path & path_text.str.contains(PROBE_PATH).to_numpy()
    client_4xx = has_status & (status >= 400) & (status < 500)

    columns = {
        "client_requests_1h": requests,
        "client_requests_per_minute": requests / (span_seconds / 60),
        "client_status_4xx_share": share(client_4xx, with_status),
        "client_distinct_paths_1h": window_distinct(groups, times, path, window_us),
        "client_login_path_share": share(login),
        "client_probe_path_share": share(probe),
        "client_malformed_request_share": share(malformed),
        "client_automated_agent_share": share(np.asarray(automated, dtype=bool)),
        "client_distinct_user_agents_1h": window_distinct(
            groups, times, raw["user_agent"].fillna(""), window_us
        ),
    }
    return pd.DataFrame(columns, index=raw.index)[FEATURE_NAMES].astype(float)


def add_client_features(frame, raw):
    """Return ``frame`` with the ``client_*`` columns of ``raw``'s rows added.

    ``frame`` contains one row per row of ``raw`` in the same order, with the
    ``user_agent_automated`` column. The new columns are joined by position.
    """
    if len(frame) != len(raw):
        raise ValueError(
            f"Feature frame has {len(frame)} rows but the raw frame {len(raw)}: "
            "pass the frame built from these raw rows."
        )
    automated = frame["user_agent_automated"].to_numpy() > 0
    client = build_client_features(raw, automated)
    return frame.assign(**{name: client[name].to_numpy() for name in FEATURE_NAMES})
