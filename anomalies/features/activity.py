"""Features of activity events, computed per event from look-back windows only."""

import re

import numpy as np
import pandas as pd

from activities.models import ActionType

from .common import (
    MICROS_PER_SECOND,
    first_in_group,
    group_codes,
    seconds_since_previous,
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
# Maximum look-back window below, so the loader reads this much history first.
HISTORY_SECONDS = 3600

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
    "ip_events_5m",
    "ip_failed_logins_15m",
    "ip_distinct_emails_15m",
    "ip_distinct_actions_5m",
    "session_events_so_far",
    "session_events_per_minute",
    "customer_new_ip",
    "customer_events_1h",
    "user_agent_share_1h",
    "user_agent_automated",
]


def _numeric(series):
    return pd.to_numeric(series, errors="coerce").fillna(0.0).to_numpy(dtype=float)


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
    new_ip = first_in_group(pair_groups, times, ids) & has_customer & has_ip
    if known_customer_ips:
        known = pd.MultiIndex.from_tuples(
            [(str(c), str(i)) for c, i in known_customer_ips]
        )
        pairs = pd.MultiIndex.from_arrays(
            [customer.astype(str).to_numpy(), ip.astype(str).to_numpy()]
        )
        new_ip &= ~pairs.isin(known)
    features["customer_new_ip"] = new_ip.astype(float)
    customer_events = window_count(customer_groups, times, HISTORY_SECONDS * 1_000_000)
    features["customer_events_1h"] = np.where(has_customer, customer_events, 0.0)

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
    return frame[FEATURE_NAMES].astype(float)
