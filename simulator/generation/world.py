"""The simulated shop before any traffic: categories, products, customers, IPs."""

import dataclasses

import numpy as np
from faker import Faker

from simulator.config import CATEGORY_NAMES
from simulator.generation import vocabulary as vocab

# Public first octets of the address ranges simulated visitors come from.
PUBLIC_FIRST_OCTETS = np.array(
    [5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 85, 87, 88, 89, 91, 92, 93, 94]
    + [95, 109, 128, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217]
)
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND


@dataclasses.dataclass
class World:
    """Arrays describing the catalogue and the customers, indexed from 0."""

    category_names: list
    product_category: np.ndarray
    product_names: np.ndarray
    product_cents: np.ndarray
    product_weights: np.ndarray
    customer_first: np.ndarray
    customer_last: np.ndarray
    # Customer e-mails, then made-up e-mails that attackers also try.
    emails: np.ndarray
    customer_created: np.ndarray
    # Customers that take part in normal traffic; the rest are brand-new
    # customers reserved for first_order_huge anomalies.
    regular: np.ndarray
    reserved: np.ndarray
    home_ip: np.ndarray
    mobile_ip: np.ndarray
    desktop_ua: np.ndarray
    mobile_ua: np.ndarray
    active_hour: np.ndarray
    activity_weight: np.ndarray
    anonymous_ips: np.ndarray
    attacker_ips: np.ndarray
    start_us: int
    end_us: int

    @property
    def n_products(self):
        return len(self.product_cents)

    @property
    def n_customers(self):
        return len(self.customer_first)


def _faker_pool(faker, method, size):
    return np.array([getattr(faker, method)() for _ in range(size)], dtype=object)


def unique_ips(rng, count):
    """Return ``count`` distinct public IPv4 addresses as integers."""
    drawn = np.empty(0, dtype=np.int64)
    while len(drawn) < count:
        need = int((count - len(drawn)) * 1.1) + 16
        first = rng.choice(PUBLIC_FIRST_OCTETS, size=need).astype(np.int64)
        rest = rng.integers(1 << 8, 1 << 24, size=need, dtype=np.int64)
        # A last octet of 0 or 255 is a network or broadcast address.
        rest = (rest & ~0xFF) | rng.integers(1, 255, size=need)
        drawn = np.unique(np.concatenate([drawn, (first << 24) | rest]))
    return rng.permutation(drawn)[:count]


def build_world(config, rng, batch_tag, reserved_count, attacker_ip_count):
    """Build the catalogue and customers of one run.

    ``batch_tag`` goes into every e-mail so that e-mails stay unique across
    runs without asking the database.
    """
    faker = Faker(config.locale)
    faker.seed_instance(int(rng.integers(0, 2**31)))
    en_faker = Faker("en_US")
    en_faker.seed_instance(int(rng.integers(0, 2**31)))
    end_us = int(config.end.timestamp() * US_PER_SECOND)
    start_us = end_us - config.days * US_PER_DAY

    category_names = list(CATEGORY_NAMES[: config.categories])
    n_products = config.products
    product_category = rng.integers(0, len(category_names), size=n_products)
    medians = np.array(
        [
            vocab.CATEGORY_PRICES.get(name, vocab.DEFAULT_CATEGORY_PRICE)[0]
            for name in category_names
        ]
    )
    spreads = np.array(
        [
            vocab.CATEGORY_PRICES.get(name, vocab.DEFAULT_CATEGORY_PRICE)[1]
            for name in category_names
        ]
    )
    prices = np.exp(
        np.log(medians[product_category])
        + spreads[product_category] * rng.standard_normal(n_products)
    )
    product_cents = np.maximum(np.round(prices * 100).astype(np.int64), 50)
    # Popularity follows a power law over a random ranking of the products.
    ranks = rng.permutation(n_products) + 1
    product_weights = 1.0 / ranks**0.9
    product_weights /= product_weights.sum()
    words = _faker_pool(faker, "word", 300)
    product_names = (
        np.array(category_names, dtype=object)[product_category]
        + " "
        + rng.choice(words, size=n_products)
        + " "
        + rng.choice(np.array(list("ABCDEFGHKMPRSTX"), dtype=object), n_products)
        + np.char.mod("%d", rng.integers(100, 1000, size=n_products)).astype(object)
    )

    n_customers = config.customers
    pool_size = min(n_customers, 2_000)
    first = rng.choice(_faker_pool(faker, "first_name", pool_size), n_customers)
    last = rng.choice(_faker_pool(faker, "last_name", pool_size), n_customers)
    # Locale user names are transliterated; en_US ones are ASCII by design.
    user_names = _faker_pool(en_faker, "user_name", pool_size)
    domains = _faker_pool(en_faker, "free_email_domain", 20)
    index = np.arange(n_customers)
    emails = (
        rng.choice(user_names, n_customers)
        + "."
        + str(batch_tag)
        + "."
        + np.char.mod("%d", index).astype(object)
        + "@"
        + rng.choice(domains, n_customers)
    )
    # Addresses that attackers try but that belong to no customer.
    n_leaked = max(200, n_customers // 5)
    leaked = (
        rng.choice(user_names, n_leaked)
        + np.char.mod("%d", rng.integers(1, 10_000, size=n_leaked)).astype(object)
        + ".x"
        + str(batch_tag)
        + "@"
        + rng.choice(domains, n_leaked)
    )

    reserved = index[n_customers - reserved_count :]
    regular = index[: n_customers - reserved_count]
    # Regular customers signed up up to two years before the time span, or in it.
    signed_up = start_us - rng.integers(1, 730, size=n_customers) * US_PER_DAY
    joined_late = rng.random(n_customers) < 0.15
    signed_up[joined_late] = start_us + rng.integers(
        0, max(1, config.days // 2) * US_PER_DAY, size=int(joined_late.sum())
    )

    # Home IPs: drawing from a pool smaller than the customer count makes a
    # few households or offices share one address behind NAT.
    n_home = max(1, int(n_customers * 0.9))
    n_mobile = max(1, n_customers // 2)
    n_anonymous = max(50, n_customers // 2)
    ips = unique_ips(rng, n_home + n_mobile + n_anonymous + attacker_ip_count)
    home_pool = ips[:n_home]
    mobile_pool = ips[n_home : n_home + n_mobile]
    anonymous_ips = ips[n_home + n_mobile : n_home + n_mobile + n_anonymous]
    attacker_ips = ips[n_home + n_mobile + n_anonymous :]
    home_ip = rng.choice(home_pool, n_customers)
    mobile_ip = rng.choice(mobile_pool, n_customers)

    # Habitual hour of activity: morning, afternoon or evening people.
    centre = rng.choice([10.0, 15.0, 20.5], size=n_customers, p=[0.2, 0.35, 0.45])
    active_hour = centre + rng.normal(0, 1.0, size=n_customers)

    return World(
        category_names=category_names,
        product_category=product_category,
        product_names=product_names,
        product_cents=product_cents,
        product_weights=product_weights,
        customer_first=first,
        customer_last=last,
        emails=np.concatenate([emails, leaked]),
        customer_created=signed_up,
        regular=regular,
        reserved=reserved,
        home_ip=home_ip,
        mobile_ip=mobile_ip,
        desktop_ua=rng.choice(np.array(vocab.DESKTOP_USER_AGENTS), n_customers),
        mobile_ua=rng.choice(np.array(vocab.MOBILE_USER_AGENTS), n_customers),
        active_hour=active_hour,
        activity_weight=rng.lognormal(0, 1.0, size=n_customers),
        anonymous_ips=anonymous_ips,
        attacker_ips=attacker_ips,
        start_us=start_us,
        end_us=end_us,
    )
