"""Features of activity events, computed per event from look-back windows only."""

import re

import numpy as np
import pandas as pd

from activities.models import ActionType

from . import client
from .common import (
    CONTEXT,
    COUNT,
    MICROS_PER_SECOND,
    FeatureSpec,
    count_at_or_before,
    first_in_group,
    group_codes,
    seconds_since_previous,
    sum_at_or_before,
    to_micros,
    to_utc,
    window_count,
    window_distinct,
)

# Columns a raw activity frame must have; the loader and the tests build them.
RAW_COLUMNS = [
    "id",
    "timestamp",
    "action_type",
    "customer_id",
    "session_id",
    "ip_address",
    "user_agent",
    "order_total",
    "quantity",
    "attempted_email",
]
ACTION_TYPES = [choice.value for choice in ActionType]

# Gap given to an IP's first event, and the largest gap kept: one day, in seconds.
MAX_GAP_SECONDS = 86_400.0
# Smallest gap kept before taking log10, so that equal timestamps stay finite.
MIN_GAP_SECONDS = 0.001
# Maximum look-back window below, so the loader reads this much history first.
HISTORY_SECONDS = 3600
# Smallest spread of a customer's time of day, in hours: with one or two
# earlier sessions the habit is known no better than this.
MIN_HABIT_SPREAD_HOURS = 2.0

AUTOMATED_AGENT = re.compile(
    r"bot|crawl|spider|scrap|curl|wget|python|httpclient|http-client|headless|"
    r"phantom|selenium|playwright|puppeteer|java/|go-http|okhttp|libwww|axios",
    re.IGNORECASE,
)

FEATURE_NAMES = [
    "hour",
    "weekday",
    *[f"action_{name}" for name in ACTION_TYPES],
    "order_total",
    "quantity",
    "ip_seconds_since_previous",
    "ip_gap_log10",
    "ip_events_5m",
    "ip_failed_logins_15m",
    "ip_distinct_emails_15m",
    "ip_distinct_actions_5m",
    "session_events_so_far",
    "session_events_per_minute",
    "customer_new_ip",
    "customer_events_1h",
    "customer_new_device_hour_z",
    "user_agent_share_1h",
    "user_agent_automated",
    *client.FEATURE_NAMES,
]

SHARE = FeatureSpec(direction="high", min_spread=0.1)

# How the Z-score detector reads each feature; see FeatureSpec.
FEATURE_SPECS = {
    **{name: CONTEXT for name in FEATURE_NAMES},
    "ip_gap_log10": FeatureSpec(direction="low"),
    "ip_events_5m": CONTEXT,
    "ip_failed_logins_15m": COUNT,
    "ip_distinct_emails_15m": COUNT,
    "session_events_per_minute": CONTEXT,
    "customer_new_device_hour_z": COUNT,
    "user_agent_automated": FeatureSpec(direction="high"),
    # Access-log shares, from 0 to 1. Simulated traffic has none of them (all
    # 0), and the minimum spread keeps a share under 0.3 from flagging alone
    # at the default |z| threshold of 3.
    "client_status_4xx_share": SHARE,
    "client_probe_path_share": SHARE,
    "client_malformed_request_share": SHARE,
}


def _numeric(series):
    return pd.to_numeric(series, errors="coerce").fillna(0.0).to_numpy(dtype=float)


def _new_device_hour_z(raw, times, local, customer_groups, ip_pairs, new_pair):
    """Score how far from the customer's habitual time of day a new device appears.

    A device is new when both its IP address and its user agent were first
    used by the customer within the last hour (and the IP is not among the
    known pairs). The habit is the circular mean time of day of the
    customer's events older than one hour, so that the current session never
    shapes its own baseline; the score is the distance to it in hours divided
    by the circular standard deviation of those times (at least
    ``MIN_HABIT_SPREAD_HOURS``). Rows of a customer without older events, and
    rows from known devices, score 0.

    NOTE: only the loaded rows and their one-hour history form the habit, so a
    load limited to recent rows sees fewer habits and misses takeovers of
    customers whose earlier activity lies before it.
    """
    window_us = HISTORY_SECONDS * MICROS_PER_SECOND
    ip_first = pd.Series(times).groupby(ip_pairs).transform("min").to_numpy()
    agent_keys = (
        pd.Series(raw["customer_id"])
        .astype("Int64")
        .astype(str)
        .str.cat(raw["user_agent"].fillna("").astype(str), sep="|")
    )
    has_customer = pd.Series(raw["customer_id"]).notna().to_numpy()
    agent_pairs = group_codes(agent_keys.where(has_customer))
    agent_first = pd.Series(times).groupby(agent_pairs).transform("min").to_numpy()
    new_device = (
        new_pair & (times - ip_first < window_us) & (times - agent_first < window_us)
    )

    hours = local.hour + local.minute / 60 + local.second / 3600
    angle = hours.to_numpy(dtype=float) * 2 * np.pi / 24
    source = has_customer
    customer_groups = np.asarray(customer_groups)
    older = times - window_us
    count = count_at_or_before(
        customer_groups[source], times[source], customer_groups, older
    )
    sines = sum_at_or_before(
        customer_groups[source],
        times[source],
        np.sin(angle[source]),
        customer_groups,
        older,
    )
    cosines = sum_at_or_before(
        customer_groups[source],
        times[source],
        np.cos(angle[source]),
        customer_groups,
        older,
    )
    length = np.hypot(sines, cosines) / np.maximum(count, 1)
    habit = np.arctan2(sines, cosines)
    spread = np.sqrt(-2 * np.log(np.clip(length, 1e-12, 1.0))) * 24 / (2 * np.pi)
    offset = np.abs((angle - habit + np.pi) % (2 * np.pi) - np.pi) * 24 / (2 * np.pi)
    z = offset / np.maximum(spread, MIN_HABIT_SPREAD_HOURS)
    return np.where(new_device & (count > 0), z, 0.0)


def build_activity_features(raw, known_customer_ips=None, tz="UTC"):
    """Compute the activity features of every row of ``raw``, indexed by event id.

    ``raw`` has the columns in ``RAW_COLUMNS`` in any row order, with duplicate
    or timezone-aware timestamps allowed. ``known_customer_ips`` is a set of
    ``(customer_id, ip_address)`` pairs seen before the first row, so that an
    IP the customer used earlier is not counted as new. Hour and weekday are
    taken in ``tz``.
    """
    raw = raw.reset_index(drop=True)
    ids = raw["id"].to_numpy(dtype=np.int64)
    times = to_micros(raw["timestamp"])
    local = to_utc(raw["timestamp"]).tz_convert(tz)
    action = raw["action_type"].astype(str).to_numpy()
    ip = raw["ip_address"].where(raw["ip_address"].astype(str).ne(""), None)
    session = raw["session_id"].where(raw["session_id"].astype(str).ne(""), None)
    customer = pd.Series(raw["customer_id"]).astype("Int64")
    has_ip = ip.notna().to_numpy()
    has_customer = customer.notna().to_numpy()

    features = {
        "hour": local.hour.to_numpy(dtype=float),
        "weekday": local.weekday.to_numpy(dtype=float),
    }
    for name in ACTION_TYPES:
        features[f"action_{name}"] = (action == name).astype(float)
    features["order_total"] = _numeric(raw["order_total"])
    features["quantity"] = _numeric(raw["quantity"])

    # Per IP address. An event without an IP is a group of its own.
    ip_groups = group_codes(ip)
    gaps = seconds_since_previous(ip_groups, times, ids)
    features["ip_seconds_since_previous"] = np.minimum(
        np.nan_to_num(gaps, nan=MAX_GAP_SECONDS), MAX_GAP_SECONDS
    )
    features["ip_gap_log10"] = np.log10(
        np.clip(features["ip_seconds_since_previous"], MIN_GAP_SECONDS, None)
    )
    features["ip_events_5m"] = window_count(ip_groups, times, 300 * MICROS_PER_SECOND)
    features["ip_failed_logins_15m"] = window_count(
        ip_groups, times, 900 * MICROS_PER_SECOND, mask=action == "failed_login"
    )
    features["ip_distinct_emails_15m"] = window_distinct(
        ip_groups, times, raw["attempted_email"], 900 * MICROS_PER_SECOND
    )
    features["ip_distinct_actions_5m"] = window_distinct(
        ip_groups, times, raw["action_type"], 300 * MICROS_PER_SECOND
    )

    # Per session: events so far and their rate per minute, with at least one
    # minute of elapsed time so that a session's first events do not explode.
    session_groups = group_codes(session)
    session_count = window_count(session_groups, times, np.iinfo(np.int64).max // 4)
    session_start = pd.Series(times).groupby(session_groups).transform("min").to_numpy()
    elapsed_minutes = np.maximum((times - session_start) / MICROS_PER_SECOND, 60) / 60
    features["session_events_so_far"] = session_count.astype(float)
    features["session_events_per_minute"] = session_count / elapsed_minutes

    # Per customer. Anonymous events have no customer history at all.
    customer_groups = group_codes(customer)
    pair_keys = customer.astype(str).str.cat(ip.astype(str), sep="|")
    pair_groups = group_codes(pair_keys.where(has_customer & has_ip))
    # A pair with a customer and an IP that was not seen before the loaded rows.
    new_pair = has_customer & has_ip
    if known_customer_ips:
        known = pd.MultiIndex.from_tuples(
            [(str(c), str(i)) for c, i in known_customer_ips]
        )
        pairs = pd.MultiIndex.from_arrays(
            [customer.astype(str).to_numpy(), ip.astype(str).to_numpy()]
        )
        new_pair &= ~pairs.isin(known)
    new_ip = first_in_group(pair_groups, times, ids) & new_pair
    features["customer_new_ip"] = new_ip.astype(float)
    customer_events = window_count(customer_groups, times, HISTORY_SECONDS * 1_000_000)
    features["customer_events_1h"] = np.where(has_customer, customer_events, 0.0)
    features["customer_new_device_hour_z"] = _new_device_hour_z(
        raw, times, local, customer_groups, pair_groups, new_pair
    )

    # User agent: its share of all events in the last hour, and bot-like names.
    agent = raw["user_agent"].fillna("").astype(str)
    all_events = window_count(np.zeros(len(raw)), times, HISTORY_SECONDS * 1_000_000)
    agent_events = window_count(group_codes(agent), times, HISTORY_SECONDS * 1_000_000)
    features["user_agent_share_1h"] = agent_events / np.maximum(all_events, 1)
    # Each distinct agent is matched once; the rows take their agent's result.
    agent_codes, agents = pd.factorize(agent)
    agents = pd.Series(agents, dtype=object)
    automated = agents.str.contains(AUTOMATED_AGENT) | agents.str.strip().eq("")
    features["user_agent_automated"] = automated.to_numpy(dtype=float)[agent_codes]

    frame = pd.DataFrame(features, index=pd.Index(ids, name="id"))
    frame = client.add_client_features(frame, raw)
    return frame[FEATURE_NAMES].astype(float)
