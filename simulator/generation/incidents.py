"""Injected anomalies: how many of each kind, and their rows."""

import dataclasses

import numpy as np

from simulator.config import ACTIVITY_KIND_VALUES, CARD_TESTING_SIZES
from simulator.generation import vocabulary as vocab
from simulator.generation.world import US_PER_DAY, US_PER_SECOND
from simulator.models import AnomalyKind

US_PER_HOUR = 3600 * US_PER_SECOND
# Kind codes index this tuple in the traffic frames.
KIND_CODES = tuple(kind.value for kind in AnomalyKind)
KIND = {name: code for code, name in enumerate(KIND_CODES)}

# Events in one incident of each activity kind, lowest and highest.
ACTIVITY_SIZES = {
    AnomalyKind.BURST.value: (20, 80),
    AnomalyKind.BRUTE_FORCE.value: (15, 60),
    AnomalyKind.CREDENTIAL_STUFFING.value: (20, 100),
    AnomalyKind.SCRAPER.value: (150, 600),
    # Login, account page, update_profile, 2 to 4 products viewed and added,
    # purchase.
    AnomalyKind.ACCOUNT_TAKEOVER.value: (8, 12),
}
# Actions a burst repeats.
BURST_ACTIONS = np.array(
    [vocab.VIEW_PRODUCT, vocab.ADD_TO_CART, vocab.SEARCH, vocab.VIEW_PAGE]
)


@dataclasses.dataclass
class IncidentPlan:
    """Sizes of every incident to inject, per kind: events or orders each."""

    sizes: dict

    def count(self, kind):
        return len(self.sizes.get(kind, ()))

    @property
    def attacker_ips(self):
        return sum(self.count(kind) for kind in ACTIVITY_KIND_VALUES)


def _split(target, low, high, rng):
    """Return incident sizes within [low, high] whose sum is close to ``target``."""
    mean = (low + high) / 2
    count = int(target // mean)
    if count == 0:
        count = 1 if target >= low else 0
    if count == 0:
        return np.empty(0, dtype=np.int64)
    sizes = rng.integers(low, high + 1, size=count)
    sizes = np.round(sizes * target / sizes.sum()).astype(np.int64)
    return np.clip(sizes, low, high)


def plan_incidents(config, rng):
    """Decide the incidents of each kind from the rates and the kind mix."""
    events, orders = config.anomaly_budget()
    sizes = {}
    weights = {k: config.kinds[k] for k in ACTIVITY_KIND_VALUES if k in config.kinds}
    total = sum(weights.values())
    for kind, weight in weights.items():
        low, high = ACTIVITY_SIZES[kind]
        sizes[kind] = _split(events * weight / total, low, high, rng)
    ato = AnomalyKind.ACCOUNT_TAKEOVER.value
    if ato in sizes:
        # A takeover's purchase is an order; keep those within the order count.
        sizes[ato] = sizes[ato][: max(0, config.orders - orders)]
        # Even sizes: login, account page, update_profile, pairs, purchase.
        sizes[ato] = sizes[ato] - sizes[ato] % 2
    for kind, target in config.order_kind_targets().items():
        if kind == AnomalyKind.CARD_TESTING.value:
            low, high = CARD_TESTING_SIZES
            sizes[kind] = _split(target, low, high, rng)
        else:
            sizes[kind] = np.ones(round(target), dtype=np.int64)
    return IncidentPlan(sizes)


class IncidentTraffic:
    """Add the rows of planned incidents to a Traffic."""

    def __init__(self, world, rng, traffic):
        self.world = world
        self.rng = rng
        self.traffic = traffic
        self.next_attacker_ip = 0
        prices = world.product_cents
        self.cheap = np.flatnonzero(prices <= np.quantile(prices, 0.2))
        self.pricey = np.flatnonzero(prices >= np.quantile(prices, 0.8))
        self.mid_up = np.flatnonzero(prices >= np.quantile(prices, 0.5))
        settled = world.regular[world.customer_created[world.regular] < world.start_us]
        self.settled = settled if len(settled) else world.regular

    def add(self, plan):
        handlers = {
            AnomalyKind.BURST.value: self._burst,
            AnomalyKind.BRUTE_FORCE.value: self._brute_force,
            AnomalyKind.CREDENTIAL_STUFFING.value: self._credential_stuffing,
            AnomalyKind.SCRAPER.value: self._scraper,
            AnomalyKind.ACCOUNT_TAKEOVER.value: self._account_takeover,
            AnomalyKind.TOTAL_MISMATCH.value: self._total_mismatch,
            AnomalyKind.QUANTITY_OUTLIER.value: self._quantity_outlier,
            AnomalyKind.CARD_TESTING.value: self._card_testing,
            AnomalyKind.FIRST_ORDER_HUGE.value: self._first_order_huge,
        }
        for kind, sizes in plan.sizes.items():
            # Takeovers need the victims' own sessions; see add_takeovers.
            if len(sizes) and kind != AnomalyKind.ACCOUNT_TAKEOVER.value:
                handlers[kind](np.asarray(sizes, dtype=np.int64), KIND[kind])

    def add_takeovers(self, plan):
        """Add the planned account takeovers; call after the normal traffic."""
        sizes = plan.sizes.get(AnomalyKind.ACCOUNT_TAKEOVER.value, ())
        if len(sizes):
            self._account_takeover(
                np.asarray(sizes, dtype=np.int64),
                KIND[AnomalyKind.ACCOUNT_TAKEOVER.value],
            )

    # Shared pieces.

    def _uniform_starts(self, count, margin_hours=2):
        world = self.world
        high = world.end_us - margin_hours * US_PER_HOUR
        return self.rng.integers(world.start_us, high, size=count)

    def _attacker_ips(self, count):
        first = self.next_attacker_ip
        self.next_attacker_ip += count
        return self.world.attacker_ips[first : first + count]

    def _incidents(self, sizes, starts):
        """Return per-incident ids and per-row incident positions and offsets."""
        units = self.traffic.new_units(starts)
        incidents = self.traffic.new_incidents(len(sizes))
        rows = np.repeat(np.arange(len(sizes)), sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        position = np.arange(len(rows)) - offsets[rows]
        return units, incidents, rows, position

    def _activity_incident(self, sizes, kind, gap_range, starts=None):
        if starts is None:
            starts = self._uniform_starts(len(sizes))
        units, incidents, rows, position = self._incidents(sizes, starts)
        columns = {
            "unit": units[rows],
            "incident": incidents[rows],
            "kind": kind,
            "seq": position.astype(np.float64),
            "gap": self.rng.uniform(*gap_range, size=len(rows)),
            "ip": self._attacker_ips(len(sizes))[rows],
        }
        return columns, rows, position

    # Activity kinds.

    def _burst(self, sizes, kind):
        """Add tens of identical actions from one IP, a fraction of a second apart."""
        rng, world = self.rng, self.world
        count = len(sizes)
        columns, rows, _position = self._activity_incident(sizes, kind, (0.02, 0.25))
        action = rng.choice(BURST_ACTIONS, size=count)
        product = rng.choice(world.n_products, size=count, p=world.product_weights)
        logged_in = rng.random(count) < 0.5
        customer = np.where(logged_in, rng.choice(world.regular, size=count), -1)
        has_product = (action == vocab.VIEW_PRODUCT) | (action == vocab.ADD_TO_CART)
        self.traffic.add_events(
            **columns,
            action=action[rows],
            customer=customer[rows],
            session=self.traffic.new_sessions(count)[rows],
            ua=rng.integers(0, len(vocab.BROWSER_USER_AGENTS), size=count)[rows],
            product=np.where(has_product, product, -1)[rows],
            quantity=np.where(action == vocab.ADD_TO_CART, 1, 0)[rows],
            query=np.where(action == vocab.SEARCH, rng.integers(0, 5, count), -1)[rows],
            url=np.where(action == vocab.VIEW_PAGE, 0, -1)[rows],
        )

    def _attack_user_agents(self, count):
        """Return user agents of login attacks: scripts or a plain browser."""
        rng = self.rng
        bot = vocab.BOT_UA_START + rng.integers(0, len(vocab.BOT_USER_AGENTS), count)
        browser = rng.integers(0, len(vocab.BROWSER_USER_AGENTS), size=count)
        return np.where(rng.random(count) < 0.6, bot, browser)

    def _brute_force(self, sizes, kind):
        """Add a run of failed logins against one e-mail from one IP."""
        rng, world = self.rng, self.world
        count = len(sizes)
        columns, rows, _position = self._activity_incident(sizes, kind, (0.3, 3.0))
        leaked = world.n_customers + rng.integers(
            0, len(world.emails) - world.n_customers, size=count
        )
        target = np.where(
            rng.random(count) < 0.8, rng.choice(world.regular, size=count), leaked
        )
        self.traffic.add_events(
            **columns,
            action=vocab.FAILED_LOGIN,
            session=self.traffic.new_sessions(count)[rows],
            ua=self._attack_user_agents(count)[rows],
            email=target[rows],
        )

    def _credential_stuffing(self, sizes, kind):
        """Add failed logins against many different e-mails from one IP."""
        rng, world = self.rng, self.world
        count = len(sizes)
        columns, rows, position = self._activity_incident(sizes, kind, (0.2, 2.0))
        pool = rng.permutation(
            np.concatenate(
                [world.regular, np.arange(world.n_customers, len(world.emails))]
            )
        )
        # Consecutive slices of a shuffled pool give distinct e-mails per incident.
        offset = rng.integers(0, len(pool), size=count)
        email = pool[(offset[rows] + position) % len(pool)]
        self.traffic.add_events(
            **columns,
            action=vocab.FAILED_LOGIN,
            session=self.traffic.new_sessions(len(rows)),
            ua=self._attack_user_agents(count)[rows],
            email=email,
        )

    def _scraper(self, sizes, kind):
        """Add a bot walking through hundreds of product pages at machine speed."""
        rng, world = self.rng, self.world
        count = len(sizes)
        columns, rows, position = self._activity_incident(sizes, kind, (0.1, 0.8))
        offset = rng.integers(0, world.n_products, size=count)
        product = (offset[rows] + position) % world.n_products
        page = rng.random(len(rows)) < 0.1
        bot_ua = vocab.BOT_UA_START + rng.integers(0, len(vocab.BOT_USER_AGENTS), count)
        self.traffic.add_events(
            **columns,
            action=np.where(page, vocab.VIEW_PAGE, vocab.VIEW_PRODUCT),
            session=self.traffic.new_sessions(count)[rows],
            ua=bot_ua[rows],
            product=np.where(page, -1, product),
            url=np.where(
                page,
                len(vocab.STATIC_PAGES) + world.product_category[product],
                -1,
            ),
        )

    def _account_takeover(self, sizes, kind):
        """Add a login from a new IP and browser at an odd hour, then a big purchase.

        The victim is a customer with sessions of their own at least a day
        before the takeover, so that the hour is unusual against a habit the
        data shows; a victim without any earlier activity would have no
        habit to break. The order the purchase creates carries the same kind
        and incident id.
        """
        rng, world = self.rng, self.world
        count = len(sizes)
        day0 = world.start_us // US_PER_DAY * US_PER_DAY
        n_days = max(1, (world.end_us - day0) // US_PER_DAY - 1)
        first_seen = self.traffic.first_session_starts(world.n_customers)
        # First day on which a takeover may start: two days after the first session.
        first_day = np.minimum(first_seen, world.end_us) - day0
        first_day = first_day // US_PER_DAY + 2
        candidates = self.settled[first_day[self.settled] <= n_days]
        if len(candidates) == 0:
            candidates = self.settled
        victims = rng.choice(candidates, size=count)
        # Twelve hours away from the victim's habitual hour of activity.
        hours = (world.active_hour[victims] + 12 + rng.uniform(-1.5, 1.5, count)) % 24
        low_day = np.clip(first_day[victims], 1, n_days)
        starts = (
            day0
            + rng.integers(low_day, n_days + 1) * US_PER_DAY
            + (hours * US_PER_HOUR).astype(np.int64)
        )
        starts = np.clip(starts, world.start_us, world.end_us - 2 * US_PER_HOUR)
        columns, rows, position = self._activity_incident(
            sizes, kind, (3.0, 25.0), starts=starts
        )
        items = (sizes - 4) // 2
        size = len(rows)
        action = np.full(size, vocab.VIEW_PRODUCT)
        action[position == 0] = vocab.LOGIN
        action[position == 1] = vocab.VIEW_PAGE
        action[position == 2] = vocab.UPDATE_PROFILE
        in_cart = (position >= 3) & (position < 3 + 2 * items[rows])
        adding = in_cart & ((position - 3) % 2 == 1)
        action[adding] = vocab.ADD_TO_CART
        last = position == sizes[rows] - 1
        action[last] = vocab.PURCHASE
        orders = self.traffic.new_orders(count)

        # Each viewed product is added right after; both rows share the product.
        line_product = rng.choice(self.pricey, size=size)
        view_row = np.arange(size) - adding.astype(np.int64)
        product = np.where(in_cart, line_product[view_row], -1)
        quantity = np.where(adding, rng.integers(1, 4, size=size), 0)
        ua = vocab.TAKEOVER_UA_START + rng.integers(
            0, len(vocab.TAKEOVER_USER_AGENTS), count
        )
        self.traffic.add_events(
            **columns,
            action=action,
            customer=victims[rows],
            session=self.traffic.new_sessions(count)[rows],
            ua=ua[rows],
            product=product,
            quantity=quantity,
            url=np.where(action == vocab.VIEW_PAGE, 2, -1),
            fields=np.where(
                action == vocab.UPDATE_PROFILE, len(vocab.PROFILE_FIELDS), -1
            ),
            order=np.where(last, orders[rows], -1),
        )
        self.traffic.add_items(
            order=orders[rows][adding],
            product=product[adding],
            quantity=quantity[adding],
            unit_cents=world.product_cents[product[adding]],
        )
        self.traffic.add_orders(
            order=orders,
            unit=columns["unit"][np.r_[0, np.cumsum(sizes)[:-1]]],
            customer=victims,
            incident=columns["incident"][np.r_[0, np.cumsum(sizes)[:-1]]],
            kind=kind,
        )

    # Order kinds.

    def _order_incidents(self, sizes, starts, customers, kind, gap_range=(0, 0)):
        """Add incidents of ``sizes`` orders each; return per-order arrays."""
        units, incidents, rows, position = self._incidents(sizes, starts)
        gaps = self.rng.uniform(*gap_range, size=len(rows)) * US_PER_SECOND
        gaps[position == 0] = 0
        elapsed = np.cumsum(gaps)
        first = np.flatnonzero(position == 0)
        elapsed -= np.repeat(elapsed[first], sizes)
        orders = self.traffic.new_orders(len(rows))
        return {
            "order": orders,
            "unit": units[rows],
            "customer": customers[rows],
            "ts": starts[rows] + elapsed.astype(np.int64),
            "incident": incidents[rows],
            "kind": kind,
        }

    def _add_lines(self, orders, lines, candidates, quantity_range):
        rng = self.rng
        order_rows = np.repeat(np.arange(len(orders)), lines)
        product = rng.choice(candidates, size=len(order_rows))
        quantity = rng.integers(*quantity_range, size=len(order_rows))
        self.traffic.add_items(
            order=orders[order_rows],
            product=product,
            quantity=quantity,
            unit_cents=self.world.product_cents[product],
        )
        line_totals = quantity * self.world.product_cents[product]
        return np.bincount(order_rows, weights=line_totals, minlength=len(orders))

    def _total_mismatch(self, sizes, kind):
        """Add orders whose total is x10 to x100 their items, or a few units."""
        rng = self.rng
        count = len(sizes)
        customers = rng.choice(self.settled, size=count)
        order = self._order_incidents(
            sizes, self._uniform_starts(count), customers, kind
        )
        item_sum = self._add_lines(
            order["order"], rng.integers(1, 4, size=count), self.mid_up, (1, 3)
        )
        inflated = np.round(item_sum * rng.uniform(10, 100, size=count))
        few_units = rng.integers(100, 600, size=count)
        high = rng.random(count) < 0.5
        # A few units is still far below items priced at the median or more.
        total = np.where(high, inflated, np.minimum(few_units, item_sum // 10))
        self.traffic.add_orders(**order, total_cents=total.astype(np.int64))

    def _quantity_outlier(self, sizes, kind):
        """Add orders of thousands of units of one product."""
        rng = self.rng
        count = len(sizes)
        customers = rng.choice(self.settled, size=count)
        order = self._order_incidents(
            sizes, self._uniform_starts(count), customers, kind
        )
        self._add_lines(
            order["order"], np.ones(count, dtype=np.int64), self.cheap, (1000, 10_000)
        )
        self.traffic.add_orders(**order)

    def _card_testing(self, sizes, kind):
        """Add many small orders from one customer, tens of seconds apart."""
        rng = self.rng
        count = len(sizes)
        customers = rng.choice(self.settled, size=count)
        order = self._order_incidents(
            sizes, self._uniform_starts(count), customers, kind, gap_range=(10, 90)
        )
        n_orders = len(order["order"])
        self._add_lines(
            order["order"], np.ones(n_orders, dtype=np.int64), self.cheap, (1, 2)
        )
        self.traffic.add_orders(**order)

    def _first_order_huge(self, sizes, kind):
        """Add a very large first order from a customer who signed up minutes before."""
        rng, world = self.rng, self.world
        count = len(sizes)
        customers = world.reserved[:count]
        starts = self._uniform_starts(count)
        latest = world.end_us - 2 * US_PER_HOUR
        starts = np.minimum(np.maximum(starts, world.start_us + US_PER_DAY), latest)
        signed_up = starts - rng.integers(2, 30, size=count) * 60 * US_PER_SECOND
        world.customer_created[customers] = signed_up
        order = self._order_incidents(sizes, starts, customers, kind)
        self._add_lines(
            order["order"], rng.integers(3, 7, size=count), self.pricey, (2, 9)
        )
        self.traffic.add_orders(**order)
