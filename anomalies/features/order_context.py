"""Order features taken from the customer's activity: the device and hour of the purchase.

An account takeover's order looks like a large normal order. What gives it
away is the session that placed it: an IP address and a user agent the
customer never used before, at an hour far from the customer's habit. The
simulator and the shop link a purchase event to its order through
``details["order_id"]``, so each order finds its session, and the session's
device and start time are compared with the customer's earlier sessions only.
"""

import numpy as np
import pandas as pd
from django.db.models import Max, Min

from activities.models import ActionType, UserActivity
from store.models import Order

from .common import COUNT, MICROS_PER_SECOND, cumulative_before, group_codes, to_micros

# Columns of the per-session summary: one row per (customer, session).
SESSION_COLUMNS = ["customer_id", "session_id", "start", "ip_address", "user_agent"]
# Columns of the purchase links: the order a purchase event created, and its session.
LINK_COLUMNS = ["order_id", "session_id"]
# Smallest spread of a customer's habitual start hour: with one or two earlier
# sessions the habit is known no better than this.
MIN_HABIT_SPREAD_HOURS = 2.0

FEATURE_NAMES = ["order_session_new_device_hour_z"]
# Already a z-score, so a spread of one is the smallest the detector may learn.
FEATURE_SPECS = {"order_session_new_device_hour_z": COUNT}


def _first_use(customers, keys, times, order_ids):
    """Mark the sessions that are the customer's first with their key (IP or agent)."""
    pair_keys = pd.Series(customers.astype(str)).str.cat(keys.astype(str), sep="|")
    groups = group_codes(pair_keys.where(keys.notna().to_numpy()))
    sorted_rows = np.lexsort((order_ids, times, groups))
    first_sorted = np.ones(len(groups), dtype=bool)
    first_sorted[1:] = groups[sorted_rows][1:] != groups[sorted_rows][:-1]
    first = np.empty_like(first_sorted)
    first[sorted_rows] = first_sorted
    return first & keys.notna().to_numpy()


def session_device_hour_z(sessions):
    """Score each session by how far from the customer's habit a new device appears.

    ``sessions`` has ``SESSION_COLUMNS``, one row per session of a known
    customer. A session uses a new device when it is the customer's first
    session with its IP address and also the first with its user agent. The
    habit is the circular mean start time of day of the customer's earlier
    sessions, and the score is the distance to it in hours divided by their
    circular standard deviation (at least ``MIN_HABIT_SPREAD_HOURS``).
    Sessions from a known device, and a customer's first session, score 0.
    Returns an array aligned to the rows of ``sessions``.
    """
    sessions = sessions.reset_index(drop=True)
    if sessions.empty:
        return np.zeros(0)
    times = to_micros(sessions["start"])
    customers = sessions["customer_id"].astype("Int64")
    groups = group_codes(customers)
    # Ties between sessions that start at the same instant break by session id.
    tie_break = pd.factorize(sessions["session_id"].astype(str), sort=True)[0]
    ip = sessions["ip_address"].where(sessions["ip_address"].astype(str).ne(""))
    agent = sessions["user_agent"].where(sessions["user_agent"].astype(str).ne(""))
    new_device = _first_use(customers, ip, times, tie_break) & _first_use(
        customers, agent, times, tie_break
    )

    seconds_of_day = (times // MICROS_PER_SECOND) % 86_400
    angle = seconds_of_day * 2 * np.pi / 86_400
    count = cumulative_before(groups, times, tie_break, np.ones(len(times)))
    sines = cumulative_before(groups, times, tie_break, np.sin(angle))
    cosines = cumulative_before(groups, times, tie_break, np.cos(angle))
    length = np.hypot(sines, cosines) / np.maximum(count, 1)
    habit = np.arctan2(sines, cosines)
    spread = np.sqrt(-2 * np.log(np.clip(length, 1e-12, 1.0))) * 24 / (2 * np.pi)
    offset = np.abs((angle - habit + np.pi) % (2 * np.pi) - np.pi) * 24 / (2 * np.pi)
    z = offset / np.maximum(spread, MIN_HABIT_SPREAD_HOURS)
    return np.where(new_device & (count > 0), z, 0.0)


def build_order_context(order_ids, sessions, links):
    """Compute the context features of ``order_ids`` from sessions and purchase links.

    ``sessions`` has ``SESSION_COLUMNS`` and ``links`` has ``LINK_COLUMNS``.
    An order without a purchase event, or whose session is not among
    ``sessions`` (an imported order, say), gets 0: nothing suspicious.
    Returns a float DataFrame indexed by order id with ``FEATURE_NAMES``.
    """
    index = pd.Index(np.asarray(order_ids, dtype=np.int64), name="id")
    frame = pd.DataFrame(0.0, index=index, columns=FEATURE_NAMES)
    if sessions.empty or links.empty:
        return frame
    scores = pd.Series(
        session_device_hour_z(sessions),
        index=sessions["session_id"].astype(str).to_numpy(),
    )
    # A session id shared by two customers is ambiguous; keep its higher score.
    scores = scores.groupby(level=0).max()
    links = links.dropna()
    link_orders = pd.to_numeric(links["order_id"], errors="coerce")
    valid = link_orders.notna().to_numpy()
    by_order = pd.Series(
        scores.reindex(links["session_id"].astype(str).to_numpy()[valid]).to_numpy(),
        index=link_orders[valid].astype(np.int64).to_numpy(),
    )
    by_order = by_order.groupby(level=0).max()
    frame["order_session_new_device_hour_z"] = (
        by_order.reindex(index).fillna(0.0).to_numpy()
    )
    return frame


def load_order_context(order_ids, start, until):
    """Read the sessions and purchase links of customers who ordered in [start, until].

    Two queries: one row per session of those customers up to ``until``
    (start, IP address and user agent), and the order id of each of their
    purchase events from ``start`` on. Events without a session id are left
    out, because their sessions cannot be told apart.
    """
    customers = Order.objects.filter(
        created_at__gte=start, created_at__lte=until, customer__isnull=False
    ).values("customer_id")
    events = UserActivity.objects.filter(
        customer_id__in=customers, timestamp__lte=until
    ).exclude(session_id="")
    sessions = pd.DataFrame.from_records(
        list(
            events.values("customer_id", "session_id")
            .annotate(
                start=Min("timestamp"),
                ip=Max("ip_address"),
                agent=Max("user_agent"),
            )
            .values_list("customer_id", "session_id", "start", "ip", "agent")
        ),
        columns=SESSION_COLUMNS,
    )
    links = pd.DataFrame.from_records(
        list(
            events.filter(
                action_type=ActionType.PURCHASE, timestamp__gte=start
            ).values_list("details__order_id", "session_id")
        ),
        columns=LINK_COLUMNS,
    )
    return build_order_context(order_ids, sessions, links)
