"""Look-back window arithmetic shared by the activity and order features.

Every helper takes plain numpy arrays aligned to the rows of one frame and
returns an array aligned to the same rows, so that a result can never land on
another row. Times are int64 microseconds since the epoch (see ``to_micros``).
A window of width W at a row with time t covers the rows of the same group with
``t - W < t_j <= t``: all rows at the same instant count, later rows never do.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

MICROS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class FeatureSpec:
    """How the Z-score detector reads one feature.

    ``direction`` is the side on which a value is suspicious: "high", "low"
    or "both". None marks a context feature (hour, action type, amounts) that
    describes a row but is not suspicious on its own. The multivariate
    detectors still use context features. ``min_spread`` is the smallest spread the
    detector may learn for the feature, in its own unit: 1 for counts, whose
    values cannot differ by less than one, and for features that are already
    z-scores.
    """

    direction: str | None = "both"
    min_spread: float = 0.0


CONTEXT = FeatureSpec(direction=None)
COUNT = FeatureSpec(direction="high", min_spread=1.0)


@dataclass
class FeatureFrame:
    """Features indexed by entity id, and the entity times on the same index.

    Unpacks as a pair: ``features, times = load_features("activity")``.
    """

    features: pd.DataFrame
    times: pd.Series

    def __iter__(self):
        return iter((self.features, self.times))

    def __len__(self):
        return len(self.features)


def to_utc(values):
    """Convert timestamps to a UTC ``DatetimeIndex``; naive values are taken as UTC."""
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True))


def to_micros(values):
    """Convert timestamps (aware, naive or mixed offsets) to int64 microseconds."""
    index = to_utc(values).tz_localize(None).as_unit("us")
    return index.asi8.astype(np.int64)


def group_codes(values):
    """Factorize group keys; each missing key becomes a group of its own.

    A missing IP address or session must not pool every anonymous row into one
    giant group, so each such row only ever sees itself.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    codes = codes.astype(np.int64)
    missing = codes < 0
    if missing.any():
        codes[missing] = len(uniques) + np.arange(int(missing.sum()), dtype=np.int64)
    return codes


def count_at_or_before(groups, times, query_groups, query_times):
    """Count rows of ``(groups, times)`` in each query's group with time <= query time."""
    groups = np.asarray(groups, dtype=np.int64)
    query_groups = np.asarray(query_groups, dtype=np.int64)
    if len(groups) == 0:
        return np.zeros(len(query_groups), dtype=np.int64)

    # Rank all times together so that (group, time) packs into one sortable int64.
    _, ranks = np.unique(
        np.concatenate([np.asarray(times), np.asarray(query_times)]),
        return_inverse=True,
    )
    ranks = ranks.astype(np.int64) + 1
    width = int(ranks.max()) + 1
    keys = np.sort(groups * width + ranks[: len(groups)])
    query_keys = query_groups * width + ranks[len(groups) :]
    upper = np.searchsorted(keys, query_keys, side="right")
    lower = np.searchsorted(keys, query_groups * width, side="left")
    return (upper - lower).astype(np.int64)


def sum_at_or_before(groups, times, values, query_groups, query_times):
    """Sum ``values`` of rows in each query's group with time <= query time."""
    groups = np.asarray(groups, dtype=np.int64)
    query_groups = np.asarray(query_groups, dtype=np.int64)
    if len(groups) == 0:
        return np.zeros(len(query_groups))

    _, ranks = np.unique(
        np.concatenate([np.asarray(times), np.asarray(query_times)]),
        return_inverse=True,
    )
    ranks = ranks.astype(np.int64) + 1
    width = int(ranks.max()) + 1
    keys = groups * width + ranks[: len(groups)]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    # running[k] is the sum of the first k rows in key order.
    running = np.concatenate([[0.0], np.cumsum(np.asarray(values, float)[order])])
    query_keys = query_groups * width + ranks[len(groups) :]
    upper = np.searchsorted(keys, query_keys, side="right")
    lower = np.searchsorted(keys, query_groups * width, side="left")
    return running[upper] - running[lower]


def window_count(groups, times, window_us, mask=None):
    """Count rows (only those in ``mask`` when given) in each row's look-back window."""
    groups = np.asarray(groups, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    if mask is None:
        source_groups, source_times = groups, times
    else:
        mask = np.asarray(mask, dtype=bool)
        source_groups, source_times = groups[mask], times[mask]
    inside = count_at_or_before(source_groups, source_times, groups, times)
    before = count_at_or_before(source_groups, source_times, groups, times - window_us)
    return inside - before


def window_distinct(groups, times, values, window_us, mask=None):
    """Count distinct ``values`` per group in each row's look-back window.

    A row is counted while it is the latest occurrence of its (group, value)
    pair and still inside the window, so each value counts once. Rows outside
    ``mask`` or with a missing value count for nothing.
    """
    groups = np.asarray(groups, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    keep = pd.notna(pd.Series(values, dtype=object)).to_numpy()
    keep &= pd.Series(values, dtype=object).astype(str).ne("").to_numpy()
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    if not keep.any():
        return np.zeros(len(groups), dtype=np.int64)

    kept_groups = groups[keep]
    kept_times = times[keep]
    value_codes, uniques = pd.factorize(pd.Series(values, dtype=object)[keep])
    pairs = kept_groups * (len(uniques) + 1) + value_codes

    # End of each row's turn: the pair's next occurrence or the window's end.
    order = np.lexsort((kept_times, pairs))
    sorted_pairs = pairs[order]
    sorted_times = kept_times[order]
    next_times = np.full(len(order), np.iinfo(np.int64).max, dtype=np.int64)
    same_pair = sorted_pairs[1:] == sorted_pairs[:-1]
    next_times[:-1] = np.where(same_pair, sorted_times[1:], next_times[:-1])
    ends_sorted = np.minimum(sorted_times + window_us, next_times)
    ends = np.empty_like(ends_sorted)
    ends[order] = ends_sorted

    started = count_at_or_before(kept_groups, kept_times, groups, times)
    ended = count_at_or_before(kept_groups, ends, groups, times)
    return started - ended


def seconds_since_previous(groups, times, ids):
    """Seconds since the group's previous row (ties by id); NaN for a group's first row."""
    groups = np.asarray(groups, dtype=np.int64)
    times = np.asarray(times, dtype=np.int64)
    order = np.lexsort((np.asarray(ids), times, groups))
    sorted_groups = groups[order]
    sorted_times = times[order]
    gaps = np.full(len(order), np.nan)
    same_group = sorted_groups[1:] == sorted_groups[:-1]
    gaps[1:] = np.where(
        same_group, (sorted_times[1:] - sorted_times[:-1]) / MICROS_PER_SECOND, np.nan
    )
    result = np.empty_like(gaps)
    result[order] = gaps
    return result


def first_in_group(groups, times, ids):
    """Mark each group's first row in time order (ties by id)."""
    groups = np.asarray(groups, dtype=np.int64)
    order = np.lexsort((np.asarray(ids), np.asarray(times), groups))
    sorted_groups = groups[order]
    first_sorted = np.ones(len(order), dtype=bool)
    first_sorted[1:] = sorted_groups[1:] != sorted_groups[:-1]
    result = np.empty_like(first_sorted)
    result[order] = first_sorted
    return result


def cumulative_before(groups, times, ids, values):
    """Sum ``values`` over the group's earlier rows (ties by id), excluding the row."""
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    order = np.lexsort((np.asarray(ids), np.asarray(times), groups))
    sorted_groups = groups[order]
    sorted_values = values[order]
    totals = np.cumsum(sorted_values)
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    # Subtract the running total reached just before each group began.
    group_offset = np.where(starts, totals - sorted_values, np.nan)
    group_offset = pd.Series(group_offset).ffill().to_numpy()
    before_sorted = totals - sorted_values - group_offset
    result = np.empty_like(before_sorted)
    result[order] = before_sorted
    return result
