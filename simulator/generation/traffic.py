"""Column blocks of generated events, orders and items, merged into sorted frames."""

import numpy as np
import pandas as pd

US_PER_SECOND = 1_000_000

# Columns of an event block, with the value used when a block leaves one out.
EVENT_DEFAULTS = {
    "unit": None,
    "seq": 0.0,
    "gap": 0.0,
    "action": None,
    "customer": -1,
    "session": -1,
    "ip": None,
    "ua": None,
    "product": -1,
    "quantity": 0,
    "query": -1,
    "url": -1,
    "email": -1,
    "order": -1,
    "incident": -1,
    "kind": -1,
    "fields": -1,
}
ORDER_DEFAULTS = {
    "order": None,
    "unit": None,
    "customer": None,
    # -1: the time of the order's purchase event.
    "ts": -1,
    # -1: the sum of the order's items.
    "total_cents": -1,
    "incident": -1,
    "kind": -1,
}
ITEM_DEFAULTS = {"order": None, "product": None, "quantity": None, "unit_cents": None}


def _block(defaults, columns):
    # Scalars broadcast to the length of the array columns, which may be 0.
    sizes = [np.size(value) for value in columns.values() if np.ndim(value) > 0]
    size = max(sizes) if sizes else 1
    block = {}
    for name, default in defaults.items():
        value = columns.pop(name, default)
        if value is None:
            raise ValueError(f"Column {name!r} is required in a traffic block.")
        block[name] = np.broadcast_to(np.asarray(value), (size,))
    if columns:
        raise ValueError(f"Unknown traffic columns: {', '.join(columns)}.")
    return block


def _concat(blocks, defaults):
    if not blocks:
        return pd.DataFrame({name: np.empty(0, dtype=np.int64) for name in defaults})
    return pd.DataFrame(
        {name: np.concatenate([block[name] for block in blocks]) for name in defaults}
    )


class Traffic:
    """Collect blocks of rows; number units, sessions, orders and incidents.

    A unit is a session or an incident: a group of rows written in one
    transaction. Events inside a unit are ordered by ``seq`` and spaced by
    ``gap`` seconds from the unit's start time.
    """

    def __init__(self):
        self._events = []
        self._orders = []
        self._items = []
        self._unit_starts = []
        self.n_units = 0
        self.n_sessions = 0
        self.n_orders = 0
        self.n_incidents = 0

    def new_units(self, starts_us):
        starts_us = np.asarray(starts_us, dtype=np.int64)
        self._unit_starts.append(starts_us)
        ids = np.arange(self.n_units, self.n_units + len(starts_us))
        self.n_units += len(starts_us)
        return ids

    def _new_ids(self, attribute, count):
        first = getattr(self, attribute)
        setattr(self, attribute, first + count)
        return np.arange(first, first + count)

    def new_sessions(self, count):
        return self._new_ids("n_sessions", count)

    def new_orders(self, count):
        return self._new_ids("n_orders", count)

    def new_incidents(self, count):
        return self._new_ids("n_incidents", count)

    def first_session_starts(self, n_customers):
        """Return, per customer, the earliest start of a unit with their events.

        Customers without events so far get the largest int64.
        """
        first = np.full(n_customers, np.iinfo(np.int64).max, dtype=np.int64)
        if not self._events:
            return first
        unit_starts = np.concatenate(self._unit_starts)
        for block in self._events:
            customer = block["customer"]
            known = customer >= 0
            np.minimum.at(first, customer[known], unit_starts[block["unit"][known]])
        return first

    def add_events(self, **columns):
        self._events.append(_block(EVENT_DEFAULTS, columns))

    def add_orders(self, **columns):
        self._orders.append(_block(ORDER_DEFAULTS, columns))

    def add_items(self, **columns):
        self._items.append(_block(ITEM_DEFAULTS, columns))

    def finish(self):
        """Return (events, orders, items) frames, timed and sorted by unit start.

        Units are renumbered in order of their start time, so that rows
        written unit by unit get ids that grow with time. Orders are
        renumbered in the same order; events and items follow them.
        """
        unit_starts = (
            np.concatenate(self._unit_starts)
            if self._unit_starts
            else np.empty(0, dtype=np.int64)
        )
        unit_rank = np.empty(len(unit_starts), dtype=np.int64)
        unit_rank[np.argsort(unit_starts, kind="stable")] = np.arange(len(unit_starts))

        events = _concat(self._events, EVENT_DEFAULTS)
        events = events.sort_values(["unit", "seq"], kind="stable", ignore_index=True)
        events["ts"] = _event_times(events, unit_starts)
        events["unit"] = unit_rank[events["unit"].to_numpy()]
        events = events.sort_values(["unit", "ts"], kind="stable", ignore_index=True)
        events = events.drop(columns=["seq", "gap"])

        orders = _concat(self._orders, ORDER_DEFAULTS)
        items = _concat(self._items, ITEM_DEFAULTS)
        orders = orders.set_index("order").sort_index()
        purchases = events[events["order"] >= 0]
        missing = orders["ts"].to_numpy() < 0
        purchase_ts = pd.Series(purchases["ts"].to_numpy(), purchases["order"])
        orders.loc[missing, "ts"] = purchase_ts.reindex(
            orders.index[missing]
        ).to_numpy()
        line_totals = items["quantity"].to_numpy() * items["unit_cents"].to_numpy()
        item_sums = np.bincount(
            items["order"].to_numpy(), weights=line_totals, minlength=len(orders)
        ).astype(np.int64)
        orders["item_sum_cents"] = item_sums[orders.index.to_numpy()]
        derived = orders["total_cents"].to_numpy() < 0
        orders.loc[derived, "total_cents"] = orders.loc[derived, "item_sum_cents"]
        orders["unit"] = unit_rank[orders["unit"].to_numpy()]
        orders = orders.sort_values(["unit", "ts"], kind="stable")

        # Renumber orders 0..n-1 in write order and remap their references.
        new_number = np.full(self.n_orders, -1, dtype=np.int64)
        new_number[orders.index.to_numpy()] = np.arange(len(orders))
        orders = orders.reset_index(drop=True)
        has_order = events["order"].to_numpy() >= 0
        remapped = events["order"].to_numpy().copy()
        remapped[has_order] = new_number[remapped[has_order]]
        events["order"] = remapped
        items["order"] = new_number[items["order"].to_numpy()]
        items = items.sort_values("order", kind="stable", ignore_index=True)
        return events, orders, items


def _event_times(events, unit_starts):
    """Return event times in microseconds: unit start plus the gaps before each event."""
    if events.empty:
        return np.empty(0, dtype=np.int64)
    units = events["unit"].to_numpy()
    gaps = events["gap"].to_numpy(dtype=np.float64).copy()
    first = np.r_[True, units[1:] != units[:-1]]
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(units)), 0))
    offset_s = elapsed - elapsed[group_start]
    return unit_starts[units] + np.round(offset_s * US_PER_SECOND).astype(np.int64)
