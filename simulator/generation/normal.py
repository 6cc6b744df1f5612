"""Normal shop traffic: browsing and purchase sessions with human pacing."""

import numpy as np
import pandas as pd

from simulator.generation import vocabulary as vocab
from simulator.generation.world import US_PER_DAY

US_PER_HOUR = 3_600_000_000
# Shares of the actions inside a session, between login and logout.
PURCHASE_BROWSE_ACTIONS = (
    (vocab.VIEW_PAGE, vocab.SEARCH, vocab.VIEW_PRODUCT),
    (0.3, 0.2, 0.5),
)
BROWSE_ACTIONS = (
    (vocab.VIEW_PAGE, vocab.SEARCH, vocab.VIEW_PRODUCT, vocab.ADD_TO_CART),
    (0.35, 0.2, 0.4, 0.05),
)
# Share of sessions that start with one mistyped password.
TYPO_RATE = 0.03
# Share of customer sessions on the phone, from the mobile network's address.
MOBILE_RATE = 0.3
ANONYMOUS_RATE = 0.35
TERMS_PER_CATEGORY = 5
# Minimum time between the starts of one customer's purchase sessions when they
# cannot fall on different days. People seldom order twice within hours; many
# orders minutes apart is card testing.
MIN_ORDER_GAP_US = 3 * US_PER_HOUR


def human_gaps(rng, size):
    """Return seconds between a person's clicks: mostly 5 s to 2 min, some longer."""
    return np.clip(rng.lognormal(np.log(20.0), 0.9, size=size), 1.0, 900.0)


def search_terms(category_names):
    """Return the flat list of search queries, TERMS_PER_CATEGORY per category."""
    terms = []
    for name in category_names:
        terms.extend(vocab.SEARCH_TERMS.get(name, vocab.GENERIC_SEARCH_TERMS))
    return terms


def page_urls(category_names):
    """Return the list of page URLs: static pages, then one page per category."""
    slugs = [
        "/catalog/" + name.lower().replace(" & ", "-").replace(" ", "-") + "/"
        for name in category_names
    ]
    return list(vocab.STATIC_PAGES) + slugs


def spaced_by_gap(world, customers, starts):
    """Move each customer's session starts at least ``MIN_ORDER_GAP_US`` apart.

    A forward pass pushes a start that follows the previous one too soon,
    a backward pass pulls starts back before the end of the span. The gap
    shrinks for a customer with more sessions than the span can hold.
    """
    frame = pd.DataFrame({"customer": customers, "start": starts})
    frame = frame.sort_values(["customer", "start"], kind="stable")
    group = frame.groupby("customer", sort=False)
    position = group.cumcount().to_numpy()
    count = group["start"].transform("size").to_numpy()
    low = np.maximum(
        world.start_us,
        world.customer_created[frame["customer"].to_numpy()] + US_PER_HOUR // 6,
    )
    high = world.end_us - 3 * US_PER_HOUR
    gap = np.minimum(MIN_ORDER_GAP_US, (high - low) // np.maximum(count, 1))
    offset = position * gap
    start = frame["start"].to_numpy()
    pushed = pd.Series(start - offset, index=frame.index)
    start = pushed.groupby(frame["customer"]).cummax().to_numpy() + offset
    start = np.minimum(start, high - (count - 1 - position) * gap)
    pulled = pd.Series(start - offset, index=frame.index).iloc[::-1]
    pulled = pulled.groupby(frame["customer"].iloc[::-1]).cummin().iloc[::-1]
    result = np.empty(len(starts), dtype=np.int64)
    result[frame.index.to_numpy()] = pulled.to_numpy() + offset
    return result


class NormalTraffic:
    """Add sessions of real-looking customers and visitors to a Traffic."""

    def __init__(self, world, rng, traffic):
        self.world = world
        self.rng = rng
        self.traffic = traffic
        weights = world.activity_weight[world.regular]
        self.customer_p = weights / weights.sum()
        self.n_pages = len(vocab.STATIC_PAGES)

    def add(self, n_events, n_orders):
        """Add exactly ``n_events`` events, of which ``n_orders`` purchase sessions."""
        used = self._add_purchase_sessions(n_events, n_orders) if n_orders else 0
        if n_events > used:
            self._add_browse_sessions(n_events - used)

    # Session attributes.

    def _pick_customers(self, size):
        return self.rng.choice(self.world.regular, size=size, p=self.customer_p)

    def _session_starts(self, customers):
        """Return start times near each customer's habitual hour, within the span."""
        world, rng = self.world, self.rng
        size = len(customers)
        known = customers >= 0
        hours = np.empty(size)
        hours[known] = world.active_hour[customers[known]]
        # Anonymous visitors follow the customers' overall daily rhythm.
        hours[~known] = rng.choice(world.active_hour, size=int((~known).sum()))
        hours = (hours + rng.normal(0, 1.5, size=size)) % 24
        day0 = world.start_us // US_PER_DAY * US_PER_DAY
        n_days = -(-(world.end_us - day0) // US_PER_DAY)
        starts = (
            day0
            + rng.integers(0, n_days, size=size) * US_PER_DAY
            + (hours * US_PER_HOUR).astype(np.int64)
        )
        low = np.full(size, world.start_us)
        low[known] = np.maximum(
            low[known], world.customer_created[customers[known]] + US_PER_HOUR // 6
        )
        high = world.end_us - 3 * US_PER_HOUR
        # A start outside the customer's span (before sign-up, say) moves to a
        # random day inside it at the same time of day, so that customers who
        # signed up recently keep their habitual hours too.
        outside = (starts < low) | (starts > high)
        time_of_day = (starts[outside] - day0) % US_PER_DAY
        first_day = -(-(low[outside] - time_of_day - day0) // US_PER_DAY)
        last_day = (high - time_of_day - day0) // US_PER_DAY
        days = np.maximum(last_day - first_day + 1, 1)
        picked = first_day + (rng.random(int(outside.sum())) * days).astype(np.int64)
        moved = day0 + picked * US_PER_DAY + time_of_day
        # A span shorter than a day may hold no such time: draw one in it.
        short = (moved < low[outside]) | (moved > high)
        moved[short] = low[outside][short] + (
            rng.random(int(short.sum())) * (high - low[outside][short])
        ).astype(np.int64)
        starts[outside] = moved
        return starts

    def _addresses(self, customers):
        """Return (ip, user agent) per session: home or mobile for customers."""
        world, rng = self.world, self.rng
        size = len(customers)
        known = customers >= 0
        mobile = rng.random(size) < MOBILE_RATE
        ip = rng.choice(world.anonymous_ips, size=size)
        ua = rng.integers(0, len(vocab.BROWSER_USER_AGENTS), size=size)
        home = known & ~mobile
        phone = known & mobile
        ip[home] = world.home_ip[customers[home]]
        ua[home] = world.desktop_ua[customers[home]]
        ip[phone] = world.mobile_ip[customers[phone]]
        ua[phone] = world.mobile_ua[customers[phone]]
        return ip, ua

    def _spaced(self, customers, starts):
        """Move each customer's purchase sessions onto different days.

        Sessions keep their time of day, so the customer's daily rhythm stays
        intact, and only the day moves: a forward pass pushes a session that
        shares a day with an earlier one to the next free day, and a backward
        pass pulls sessions back before the end of the span. Days apart, two
        sessions near the same habitual hour are hours apart too. A session
        that would move outside the customer's span keeps its drawn start.
        A customer with more purchases than days gets them at least
        ``MIN_ORDER_GAP_US`` apart instead (less when even that does not fit).
        """
        world = self.world
        day0 = world.start_us // US_PER_DAY * US_PER_DAY
        frame = pd.DataFrame({"customer": customers, "start": starts})
        frame = frame.sort_values(["customer", "start"], kind="stable")
        customer = frame["customer"]
        start = frame["start"].to_numpy()
        day = (start - day0) // US_PER_DAY
        time_of_day = start - day0 - day * US_PER_DAY
        group = frame.groupby("customer", sort=False)
        position = group.cumcount().to_numpy()
        count = group["start"].transform("size").to_numpy()
        low = np.maximum(
            world.start_us,
            world.customer_created[customer.to_numpy()] + US_PER_HOUR // 6,
        )
        high = world.end_us - 3 * US_PER_HOUR
        last_day = (high - day0) // US_PER_DAY

        shifted = pd.Series(day - position, index=frame.index)
        pushed = shifted.groupby(customer).cummax().to_numpy() + position
        pushed = np.minimum(pushed, last_day - (count - 1 - position))
        backwards = pd.Series(pushed - position, index=frame.index).iloc[::-1]
        pulled = backwards.groupby(customer.iloc[::-1]).cummin().iloc[::-1]
        moved = day0 + (pulled.to_numpy() + position) * US_PER_DAY + time_of_day

        keep = (moved < low) | (moved > high)
        moved[keep] = start[keep]
        result = np.empty(len(starts), dtype=np.int64)
        result[frame.index.to_numpy()] = moved

        busy = np.zeros(len(starts), dtype=bool)
        busy[frame.index.to_numpy()] = count > last_day + 1
        if busy.any():
            result[busy] = spaced_by_gap(world, customers[busy], starts[busy])
        return result

    def _new_sessions(self, customers, spaced=False):
        starts = self._session_starts(customers)
        if spaced:
            starts = self._spaced(customers, starts)
        ip, ua = self._addresses(customers)
        return {
            "unit": self.traffic.new_units(starts),
            "session": self.traffic.new_sessions(len(customers)),
            "customer": customers,
            "ip": ip,
            "ua": ua,
        }

    def _emit(self, sessions, rows, seq, action, logged_in=True, **columns):
        """Add one event per entry of ``rows`` (session positions) to the traffic."""
        customer = sessions["customer"][rows]
        if not logged_in:
            customer = np.full(len(rows), -1)
        self.traffic.add_events(
            unit=sessions["unit"][rows],
            session=sessions["session"][rows],
            customer=customer,
            ip=sessions["ip"][rows],
            ua=sessions["ua"][rows],
            seq=seq,
            gap=human_gaps(self.rng, len(rows)),
            action=action,
            **columns,
        )

    def _browse_columns(self, size, choices):
        """Return action and detail columns for ``size`` browsing events."""
        rng, world = self.rng, self.world
        actions = rng.choice(np.array(choices[0]), size=size, p=choices[1])
        product = rng.choice(world.n_products, size=size, p=world.product_weights)
        category = world.product_category[product]
        is_page = actions == vocab.VIEW_PAGE
        on_category = rng.random(size) < 0.5
        url = np.where(
            on_category,
            self.n_pages + category,
            rng.integers(0, self.n_pages, size=size),
        )
        query = category * TERMS_PER_CATEGORY + rng.integers(
            0, TERMS_PER_CATEGORY, size=size
        )
        has_product = (actions == vocab.VIEW_PRODUCT) | (actions == vocab.ADD_TO_CART)
        return {
            "action": actions,
            "product": np.where(has_product, product, -1),
            "quantity": np.where(actions == vocab.ADD_TO_CART, 1, 0),
            "url": np.where(is_page, url, -1),
            "query": np.where(actions == vocab.SEARCH, query, -1),
        }

    def _popular_products(self, size):
        world = self.world
        return self.rng.choice(world.n_products, size=size, p=world.product_weights)

    # Purchase sessions.

    def _add_purchase_sessions(self, n_events, n_orders):
        """Add one purchase session per order; return the events they hold."""
        rng = self.rng
        size = n_orders
        items = 1 + np.minimum(rng.poisson(0.6, size=size), 4)
        browsing = rng.geometric(0.3, size=size) - 1
        removal = rng.random(size) < 0.15
        logout = rng.random(size) < 0.5
        typo = rng.random(size) < TYPO_RATE
        extra = browsing + 2 * (items - 1) + 3 * removal + logout + typo.astype(int)
        # Scale the optional parts down when the event budget is tight.
        allowed = n_events - 4 * size
        if extra.sum() > allowed:
            share = allowed / extra.sum()
            browsing = np.floor(browsing * share).astype(np.int64)
            items = 1 + np.floor((items - 1) * share).astype(np.int64)
            keep = rng.random(size) < share
            removal &= keep
            logout &= keep
            typo &= keep
            extra = browsing + 2 * (items - 1) + 3 * removal + logout + typo.astype(int)
            over = np.cumsum(extra) > allowed
            browsing[over] = 0
            items[over] = 1
            removal[over] = logout[over] = typo[over] = False

        sessions = self._new_sessions(self._pick_customers(size), spaced=True)
        orders = self.traffic.new_orders(size)
        every = np.arange(size)

        rows = np.flatnonzero(typo)
        self._emit(
            sessions,
            rows,
            -1.0,
            vocab.FAILED_LOGIN,
            logged_in=False,
            email=sessions["customer"][rows],
        )
        self._emit(sessions, every, 0.0, vocab.LOGIN)

        rows = np.repeat(every, browsing)
        self._emit(
            sessions,
            rows,
            rng.uniform(0.01, 0.99, size=len(rows)),
            **self._browse_columns(len(rows), PURCHASE_BROWSE_ACTIONS),
        )

        rows = np.repeat(every, items)
        product = self._popular_products(len(rows))
        quantity = np.where(
            rng.random(len(rows)) < 0.15, rng.integers(2, 4, size=len(rows)), 1
        )
        moment = rng.uniform(0.01, 0.98, size=len(rows))
        self._emit(sessions, rows, moment, vocab.VIEW_PRODUCT, product=product)
        self._emit(
            sessions,
            rows,
            moment + 1e-7,
            vocab.ADD_TO_CART,
            product=product,
            quantity=quantity,
        )
        self.traffic.add_items(
            order=orders[rows],
            product=product,
            quantity=quantity,
            unit_cents=self.world.product_cents[product],
        )

        rows = np.flatnonzero(removal)
        product = self._popular_products(len(rows))
        moment = rng.uniform(0.01, 0.9, size=len(rows))
        self._emit(sessions, rows, moment, vocab.VIEW_PRODUCT, product=product)
        self._emit(
            sessions,
            rows,
            moment + 1e-7,
            vocab.ADD_TO_CART,
            product=product,
            quantity=1,
        )
        later = moment + (0.99 - moment) * rng.uniform(0.2, 1.0, size=len(rows))
        self._emit(sessions, rows, later, vocab.REMOVE_FROM_CART, product=product)

        self._emit(sessions, every, 1.0, vocab.PURCHASE, order=orders)
        self._emit(sessions, np.flatnonzero(logout), 2.0, vocab.LOGOUT)
        self.traffic.add_orders(
            order=orders, unit=sessions["unit"], customer=sessions["customer"]
        )
        return int(4 * size + extra.sum())

    # Browsing sessions.

    def _draw_browse_sessions(self, size):
        rng = self.rng
        anonymous = rng.random(size) < ANONYMOUS_RATE
        login = ~anonymous & (rng.random(size) < 0.6)
        plan = {
            "anonymous": anonymous,
            "login": login,
            "typo": login & (rng.random(size) < TYPO_RATE),
            "profile": login & (rng.random(size) < 0.1),
            "logout": login & (rng.random(size) < 0.3),
            "middle": rng.geometric(0.2, size=size),
        }
        fixed = ("typo", "login", "profile", "logout")
        plan["size"] = plan["middle"] + sum(plan[key].astype(np.int64) for key in fixed)
        return plan

    def _add_browse_sessions(self, n_events):
        """Add sessions without a purchase holding exactly ``n_events`` events."""
        parts = []
        total = 0
        while total < n_events:
            plan = self._draw_browse_sessions((n_events - total) // 5 + 16)
            fits = np.cumsum(plan["size"]) <= n_events - total
            parts.append({key: value[fits] for key, value in plan.items()})
            total += int(plan["size"][fits].sum())
            if not fits.all() and total < n_events:
                # One anonymous visit takes the remainder.
                rest = n_events - total
                parts.append(
                    {
                        "anonymous": np.array([True]),
                        "login": np.array([False]),
                        "typo": np.array([False]),
                        "profile": np.array([False]),
                        "logout": np.array([False]),
                        "middle": np.array([rest]),
                        "size": np.array([rest]),
                    }
                )
                total += rest
        plan = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        size = len(plan["size"])
        customers = np.full(size, -1)
        known = ~plan["anonymous"]
        customers[known] = self._pick_customers(int(known.sum()))
        sessions = self._new_sessions(customers)
        every = np.arange(size)
        rng = self.rng

        rows = np.flatnonzero(plan["typo"])
        self._emit(
            sessions,
            rows,
            -1.0,
            vocab.FAILED_LOGIN,
            logged_in=False,
            email=customers[rows],
        )
        self._emit(sessions, np.flatnonzero(plan["login"]), 0.0, vocab.LOGIN)
        rows = np.repeat(every, plan["middle"])
        self._emit(
            sessions,
            rows,
            rng.uniform(0.01, 0.99, size=len(rows)),
            **self._browse_columns(len(rows), BROWSE_ACTIONS),
        )
        rows = np.flatnonzero(plan["profile"])
        self._emit(
            sessions,
            rows,
            rng.uniform(0.01, 0.99, size=len(rows)),
            vocab.UPDATE_PROFILE,
            fields=rng.integers(0, len(vocab.PROFILE_FIELDS), size=len(rows)),
        )
        self._emit(sessions, np.flatnonzero(plan["logout"]), 2.0, vocab.LOGOUT)
