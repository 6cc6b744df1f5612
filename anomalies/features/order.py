"""Features of orders, computed per order from the customer's earlier orders only."""

import numpy as np
import pandas as pd

from . import order_context
from .common import (
    CONTEXT,
    MICROS_PER_SECOND,
    FeatureSpec,
    cumulative_before,
    group_codes,
    seconds_since_previous,
    to_micros,
    to_utc,
    window_count,
)

RAW_COLUMNS = [
    "id",
    "created_at",
    "customer_id",
    "total_amount",
    "item_count",
    "units",
    "items_total",
    "customer_created_at",
]
# Columns of the per-customer summary of orders placed before the loaded rows.
PRIOR_COLUMNS = ["customer_id", "prior_count", "prior_sum", "prior_last"]

# Gap given to a customer's first order, and the largest gap kept: 30 days.
MAX_GAP_SECONDS = 30 * 86_400.0
# Largest ratio kept for total/items and total/typical total.
MAX_RATIO = 100.0
# Window of the short-term order count, in seconds: 10 minutes.
CARD_TESTING_WINDOW_SECONDS = 600
# Largest age of a customer account kept, in minutes: 30 days. Orders whose
# customer has no sign-up time get it too.
MAX_SIGNUP_MINUTES = MAX_GAP_SECONDS / 60
# A first order placed within this many minutes of sign-up (a day) comes
# from a brand-new account.
NEW_ACCOUNT_MINUTES = 1440.0
# Maximum look-back window below, so the loader reads this much history first.
HISTORY_SECONDS = 86_400

FEATURE_NAMES = [
    "total",
    "item_count",
    "units",
    "total_to_items_ratio",
    "customer_orders_24h",
    "customer_orders_10m",
    "seconds_since_previous_order",
    "total_to_customer_typical",
    "first_order",
    "hour",
    "log_total",
    "log_units",
    "log_gap_since_previous_order",
    "log_total_to_customer_typical",
    "log_minutes_since_signup",
    "log_total_to_items_ratio",
    "new_account_log_total_excess",
    *order_context.FEATURE_NAMES,
]

# How the Z-score detector reads each feature; see FeatureSpec.
# Amounts, units and gaps spread over orders of magnitude, so the Z-score
# detector reads their log10 versions and keeps the plain ones as context.
FEATURE_SPECS = {
    **{name: CONTEXT for name in FEATURE_NAMES},
    # Shoppers order hours or days apart; orders minutes apart from one
    # customer are card testing. A spread of half an order flags the third
    # order within 10 minutes, and a quarter decade (a factor of 1.8) keeps
    # the gap from flagging orders a few hours apart.
    "customer_orders_10m": FeatureSpec(direction="high", min_spread=0.5),
    "log_gap_since_previous_order": FeatureSpec(direction="low", min_spread=0.25),
    # The plain ratio is context only. Shipping and fees put real shops'
    # totals a little above their items, and a robust spread of that small
    # excess flags them. The log ratio below, with a spread floor, carries
    # the mismatch instead.
    "total_to_items_ratio": CONTEXT,
    # A third of a decade flags about ten times the shop's usual units, so a
    # shopper buying two or three of a thing is not flagged where most buy one.
    "log_units": FeatureSpec(direction="high", min_spread=1 / 3),
    # Normal totals equal their items: a quarter decade flags x10 or /10.
    "log_total_to_items_ratio": FeatureSpec(direction="both", min_spread=0.25),
    # A brand-new account's large first order is the signal, so the
    # plain total and a later order against the customer's first stay
    # context. A spread of 0.35 decades flags a total about 11 times the
    # shop's typical one.
    "new_account_log_total_excess": FeatureSpec(direction="high", min_spread=0.35),
    **order_context.FEATURE_SPECS,
}
# Smallest amount, unit count and gap (seconds) kept before taking log10.
MIN_LOG_VALUE = 1.0


def _ratio(numerator, denominator):
    """Divide with zero handled: 0/0 is 1 (nothing differs), x/0 is the cap."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            denominator > 0,
            numerator / np.where(denominator > 0, denominator, 1.0),
            np.where(numerator > 0, MAX_RATIO, 1.0),
        )
    return np.clip(ratio, 0.0, MAX_RATIO)


def _minutes_since_signup(raw, times):
    """Return minutes from each customer's sign-up to the order; NaN when unknown."""
    if "customer_created_at" not in raw:
        return np.full(len(raw), np.nan)
    created = raw["customer_created_at"]
    known = created.notna().to_numpy()
    minutes = np.full(len(raw), np.nan)
    minutes[known] = (times[known] - to_micros(created[known])) / (
        60 * MICROS_PER_SECOND
    )
    return np.where(np.isnan(minutes), MAX_SIGNUP_MINUTES, minutes)


def build_order_features(raw, prior=None, context=None, tz="UTC"):
    """Compute the order features of every row of ``raw``, indexed by order id.

    ``raw`` has the columns in ``RAW_COLUMNS`` in any row order. ``prior`` is
    an optional frame with ``PRIOR_COLUMNS`` that sums up each customer's
    orders placed before the first row of ``raw``, so that "first order" and
    "typical total" stay right when only recent orders are loaded. ``context``
    is an optional frame of ``order_context.FEATURE_NAMES`` indexed by order
    id; orders missing from it get 0 (nothing suspicious).
    """
    raw = raw.reset_index(drop=True)
    ids = raw["id"].to_numpy(dtype=np.int64)
    times = to_micros(raw["created_at"])
    customer = pd.Series(raw["customer_id"]).astype("Int64")
    customers = group_codes(customer)
    total = pd.to_numeric(raw["total_amount"], errors="coerce").fillna(0.0)
    total = total.to_numpy(dtype=float)
    items_total = pd.to_numeric(raw["items_total"], errors="coerce").fillna(0.0)
    items_total = items_total.to_numpy(dtype=float)

    prior_count = np.zeros(len(raw))
    prior_sum = np.zeros(len(raw))
    prior_last = np.full(len(raw), np.nan)
    if prior is not None and len(prior):
        summary = prior.assign(customer_id=prior["customer_id"].astype("Int64"))
        summary = summary.set_index("customer_id")
        prior_count = customer.map(summary["prior_count"]).fillna(0).to_numpy(float)
        prior_sum = customer.map(summary["prior_sum"]).fillna(0).to_numpy(float)
        last = customer.map(summary["prior_last"])
        has_last = last.notna().to_numpy()
        prior_last[has_last] = to_micros(last[has_last])

    earlier_count = prior_count + cumulative_before(
        customers, times, ids, np.ones(len(raw))
    )
    earlier_sum = prior_sum + cumulative_before(customers, times, ids, total)
    typical = np.where(earlier_count > 0, earlier_sum / np.maximum(earlier_count, 1), 0)

    gaps = seconds_since_previous(customers, times, ids)
    gap_from_prior = (times - prior_last) / MICROS_PER_SECOND
    gaps = np.where(np.isnan(gaps), gap_from_prior, gaps)
    gaps = np.minimum(np.nan_to_num(gaps, nan=MAX_GAP_SECONDS), MAX_GAP_SECONDS)

    features = {
        "total": total,
        "item_count": pd.to_numeric(raw["item_count"]).fillna(0).to_numpy(float),
        "units": pd.to_numeric(raw["units"]).fillna(0).to_numpy(float),
        "total_to_items_ratio": _ratio(total, items_total),
        "customer_orders_24h": window_count(
            customers, times, HISTORY_SECONDS * MICROS_PER_SECOND
        ).astype(float),
        "customer_orders_10m": window_count(
            customers, times, CARD_TESTING_WINDOW_SECONDS * MICROS_PER_SECOND
        ).astype(float),
        "seconds_since_previous_order": gaps,
        "total_to_customer_typical": np.where(
            earlier_count > 0, _ratio(total, typical), 1.0
        ),
        "first_order": (earlier_count == 0).astype(float),
        "hour": to_utc(raw["created_at"]).tz_convert(tz).hour.to_numpy(dtype=float),
    }
    features["log_total"] = np.log10(np.maximum(total, MIN_LOG_VALUE))
    features["log_units"] = np.log10(np.maximum(features["units"], MIN_LOG_VALUE))
    features["log_gap_since_previous_order"] = np.log10(np.maximum(gaps, MIN_LOG_VALUE))
    features["log_total_to_customer_typical"] = np.log10(
        np.maximum(features["total_to_customer_typical"], 1.0 / MAX_RATIO)
    )
    features["log_total_to_items_ratio"] = np.log10(
        np.maximum(features["total_to_items_ratio"], 1.0 / MAX_RATIO)
    )
    signup_minutes = _minutes_since_signup(raw, times)
    features["log_minutes_since_signup"] = np.log10(
        np.clip(signup_minutes, 1.0, MAX_SIGNUP_MINUTES)
    )
    # The shop's typical log10 total: the mean over every earlier order.
    shop = np.zeros(len(raw), dtype=np.int64)
    earlier = cumulative_before(shop, times, ids, np.ones(len(raw)))
    earlier_log_sum = cumulative_before(shop, times, ids, features["log_total"])
    shop_typical = np.where(
        earlier > 0, earlier_log_sum / np.maximum(earlier, 1), features["log_total"]
    )
    new_account = (earlier_count == 0) & (signup_minutes <= NEW_ACCOUNT_MINUTES)
    features["new_account_log_total_excess"] = np.where(
        new_account, np.maximum(features["log_total"] - shop_typical, 0.0), 0.0
    )
    frame = pd.DataFrame(features, index=pd.Index(ids, name="id"))
    if context is None:
        context = pd.DataFrame(columns=order_context.FEATURE_NAMES, dtype=float)
    context = context.reindex(frame.index).fillna(0.0)
    frame[order_context.FEATURE_NAMES] = context[order_context.FEATURE_NAMES]
    return frame[FEATURE_NAMES].astype(float)
