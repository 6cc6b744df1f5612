"""Settings of one simulation run, checked before anything is written."""

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from faker.config import AVAILABLE_LOCALES

from activities.serializers import EARLIEST_TIMESTAMP, MAX_CLOCK_SKEW
from simulator.models import ACTIVITY_KINDS, ORDER_KINDS, AnomalyKind

# Above this share of anomalies the "normal" traffic is no longer the majority,
# and no detector built on typical behaviour can be measured against it.
MAX_ANOMALY_RATE = 0.5
# Longest time span, in days, and the densest traffic it may hold.
MAX_DAYS = 3650
MAX_EVENTS_PER_SECOND = 20
MAX_ORDERS_PER_CUSTOMER_PER_DAY = 10
# Upper bounds that keep one run's arrays within a few GiB of memory.
MAX_CUSTOMERS = 5_000_000
MAX_PRODUCTS = 1_000_000
MAX_ORDERS = 10_000_000
MAX_ACTIVITIES = 50_000_000
# A normal order comes from a purchase session: login, view_product,
# add_to_cart and purchase at the least.
MIN_EVENTS_PER_ORDER_SESSION = 4
# Orders in one card-testing incident, fewest and most: "many" small orders.
CARD_TESTING_SIZES = (10, 30)

CATEGORY_NAMES = (
    "Electronics",
    "Books",
    "Clothing",
    "Home & Kitchen",
    "Sports & Outdoors",
    "Toys & Games",
    "Beauty",
    "Grocery",
    "Garden",
    "Automotive",
    "Pet Supplies",
    "Office",
)

ALL_KINDS = tuple(kind.value for kind in AnomalyKind)
ACTIVITY_KIND_VALUES = tuple(kind.value for kind in ACTIVITY_KINDS)
ORDER_KIND_VALUES = tuple(kind.value for kind in ORDER_KINDS)


class SimulationConfigError(ValueError):
    """Invalid simulation settings; ``errors`` maps each field to its message."""

    def __init__(self, errors):
        self.errors = dict(errors)
        super().__init__(
            "; ".join(f"{field}: {message}" for field, message in self.errors.items())
        )


def parse_kinds(value):
    """Parse a kind mix into a dict of kind to weight.

    Accepts None (every kind, equal weights), a dict of weights, a list of
    names, or a comma-separated string where each item is ``kind`` or
    ``kind:weight``. Raises SimulationConfigError on unknown kinds or bad weights.
    """
    if value is None or value == "" or value == []:
        return {kind: 1.0 for kind in ALL_KINDS}
    if isinstance(value, dict):
        items = list(value.items())
    else:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        items = []
        for part in value:
            name, _sep, weight = str(part).partition(":")
            items.append((name, weight or 1.0))
    mix = {}
    for name, raw_weight in items:
        name = str(name).strip()
        if name not in ALL_KINDS:
            raise SimulationConfigError(
                {
                    "kinds": f"Unknown anomaly kind {name!r}: use one of "
                    f"{', '.join(ALL_KINDS)}."
                }
            )
        try:
            weight = float(raw_weight)
        except (TypeError, ValueError):
            weight = math.nan
        if not math.isfinite(weight) or weight <= 0:
            raise SimulationConfigError(
                {
                    "kinds": f"Invalid weight {raw_weight!r} for kind {name!r}: "
                    "use a positive number, as in burst:2."
                }
            )
        mix[name] = weight
    return mix


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: shop size, traffic, anomaly rates and the kind mix.

    Rates are the approximate fraction of activity events and of orders that
    belong to injected anomalies. ``kinds`` weighs the kinds against each
    other within activities and within orders. The same ``seed`` with the
    same settings and ``end`` gives the same rows.
    """

    customers: int = 500
    products: int = 200
    orders: int = 2_000
    activities: int = 50_000
    order_anomaly_rate: float = 0.02
    activity_anomaly_rate: float = 0.02
    kinds: dict = dataclasses.field(default=None)
    days: int = 30
    categories: int = 8
    locale: str = "ru_RU"
    seed: int | None = None
    end: datetime | None = None

    def __post_init__(self):
        # The frozen dataclass is normalised in place once, then validated.
        errors = {}
        try:
            object.__setattr__(self, "kinds", parse_kinds(self.kinds))
        except SimulationConfigError as exc:
            errors = exc.errors
            object.__setattr__(self, "kinds", {})
        if self.end is None:
            object.__setattr__(self, "end", timezone.now())
        self.validate(errors)

    @classmethod
    def from_dict(cls, data):
        """Build a config from a JSON-like dict; accept the older ``num_*`` names."""
        aliases = {
            "num_customers": "customers",
            "num_products": "products",
            "num_orders": "orders",
            "num_activities": "activities",
        }
        field_names = {field.name for field in dataclasses.fields(cls)}
        values = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in field_names:
                raise SimulationConfigError(
                    {
                        key: f"Unknown setting {key!r}: use "
                        f"{', '.join(sorted(field_names))}."
                    }
                )
            values[name] = value
        if isinstance(values.get("end"), str):
            parsed = _parse_end(values["end"])
            values["end"] = parsed
        return cls(**values)

    def to_dict(self):
        """Return the settings as JSON-ready values."""
        data = dataclasses.asdict(self)
        data["end"] = self.end.isoformat()
        return data

    def anomaly_budget(self):
        """Return (activity events, orders) meant to be anomalous."""
        activity_weight = sum(self.kinds.get(k, 0) for k in ACTIVITY_KIND_VALUES)
        order_weight = sum(self.kinds.get(k, 0) for k in ORDER_KIND_VALUES)
        events = round(self.activities * self.activity_anomaly_rate)
        orders = round(self.orders * self.order_anomaly_rate)
        return (events if activity_weight else 0, orders if order_weight else 0)

    def validate(self, errors=None):
        """Check every setting; raise SimulationConfigError naming each bad one."""
        errors = dict(errors or {})
        counts = (
            ("customers", 1, MAX_CUSTOMERS),
            ("products", 1, MAX_PRODUCTS),
            ("orders", 0, MAX_ORDERS),
            ("activities", 0, MAX_ACTIVITIES),
            ("days", 1, MAX_DAYS),
            ("categories", 1, len(CATEGORY_NAMES)),
        )
        for name, low, high in counts:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = f"Invalid {name} {value!r}: use a whole number."
            elif not low <= value <= high:
                errors[name] = (
                    f"Invalid {name} {value!r}: use a whole number from {low} to "
                    f"{high:,}."
                )
        for name in ("order_anomaly_rate", "activity_anomaly_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors[name] = f"Invalid {name} {value!r}: use a number from 0 to 1."
            elif not 0 <= value <= 1 or math.isnan(value):
                errors[name] = f"Invalid {name} {value!r}: use a number from 0 to 1."
            elif value > MAX_ANOMALY_RATE:
                errors[name] = (
                    f"{name} {value!r} leaves too little normal traffic: use at most "
                    f"{MAX_ANOMALY_RATE}."
                )
        if self.locale not in AVAILABLE_LOCALES:
            errors["locale"] = (
                f"Unknown locale {self.locale!r}: use a Faker locale such as "
                "ru_RU, en_US or de_DE."
            )
        if self.seed is not None and (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed < 2**63
        ):
            errors["seed"] = (
                f"Invalid seed {self.seed!r}: use a whole number from 0 to 2**63-1."
            )
        if not isinstance(self.end, datetime) or timezone.is_naive(self.end):
            errors["end"] = (
                f"Invalid end {self.end!r}: use a time-zone-aware date and time."
            )
        elif "days" not in errors:
            self._validate_span(errors)
        if errors:
            raise SimulationConfigError(errors)
        self._validate_mix(errors)
        self._validate_density(errors)
        if errors:
            raise SimulationConfigError(errors)

    def _validate_span(self, errors):
        """Check that the simulated days lie within the times events may have."""
        latest = timezone.now() + MAX_CLOCK_SKEW
        try:
            first = self.end - timedelta(days=self.days)
        except OverflowError:
            first = None
        if first is None or first < EARLIEST_TIMESTAMP or self.end > latest:
            errors["end"] = (
                f"Invalid end {self.end.isoformat()}: the {self.days} simulated days "
                f"before it must lie between {EARLIEST_TIMESTAMP:%Y-%m-%d} and one "
                "day after the current time. Use an end in that range, or leave "
                "it out to end now."
            )

    def _validate_mix(self, errors):
        has_activity_kind = any(k in self.kinds for k in ACTIVITY_KIND_VALUES)
        has_order_kind = any(k in self.kinds for k in ORDER_KIND_VALUES)
        if self.activity_anomaly_rate > 0 and not has_activity_kind:
            errors["kinds"] = (
                f"activity_anomaly_rate is {self.activity_anomaly_rate} but kinds "
                "selects no activity kind: add one of "
                f"{', '.join(ACTIVITY_KIND_VALUES)} or set the rate to 0."
            )
        if self.order_anomaly_rate > 0 and not has_order_kind:
            errors["kinds"] = (
                f"order_anomaly_rate is {self.order_anomaly_rate} but kinds selects "
                f"no order kind: add one of {', '.join(ORDER_KIND_VALUES)} or set "
                "the rate to 0."
            )

    def _validate_density(self, errors):
        span_seconds = self.days * 86_400
        max_events = span_seconds * MAX_EVENTS_PER_SECOND
        if self.activities > max_events:
            errors["activities"] = (
                f"{self.activities:,} activities do not fit in {self.days} days "
                f"(at most {MAX_EVENTS_PER_SECOND} events a second): raise days or "
                f"lower activities to {max_events:,}."
            )
        max_orders = self.customers * self.days * MAX_ORDERS_PER_CUSTOMER_PER_DAY
        if self.orders > max_orders:
            errors["orders"] = (
                f"{self.orders:,} orders are too many for {self.customers:,} "
                f"customers in {self.days} days: raise customers or days, or lower "
                f"orders to {max_orders:,}."
            )
        anomalous_events, anomalous_orders = self.anomaly_budget()
        normal_orders = self.orders - anomalous_orders
        normal_events = self.activities - anomalous_events
        needed = normal_orders * MIN_EVENTS_PER_ORDER_SESSION
        if needed > normal_events:
            errors["activities"] = (
                f"{self.activities:,} activities cannot hold {normal_orders:,} normal "
                f"orders, because each comes from a session of at least "
                f"{MIN_EVENTS_PER_ORDER_SESSION} events: raise activities to "
                f"{needed + anomalous_events:,} or lower orders."
            )
        reserved = self.new_customers_needed()
        if self.customers <= reserved:
            errors["customers"] = (
                f"{self.customers:,} customers leave none for normal traffic, because "
                f"{reserved:,} are brand-new customers of first_order_huge "
                f"anomalies: raise customers above {reserved:,}."
            )

    def order_kind_targets(self):
        """Return {order kind: anomalous orders meant for it} for the selected kinds.

        Card testing comes first: it gets at least one incident of the mean
        size when the order budget holds one, because a smaller share would
        give no incident at all. The rest of the budget is split between the
        other order kinds by weight.
        """
        weights = {k: self.kinds[k] for k in ORDER_KIND_VALUES if k in self.kinds}
        _events, orders = self.anomaly_budget()
        total = sum(weights.values())
        if not total:
            return {}
        targets = {}
        card = AnomalyKind.CARD_TESTING.value
        if card in weights:
            share = orders * weights.pop(card) / total
            low, high = CARD_TESTING_SIZES
            if orders >= low:
                share = min(orders, max(share, (low + high) / 2))
            targets[card] = share
            orders -= share
        rest = sum(weights.values())
        for kind, weight in weights.items():
            targets[kind] = orders * weight / rest
        return targets

    def new_customers_needed(self):
        """Return how many customers the first_order_huge kind reserves."""
        targets = self.order_kind_targets()
        return round(targets.get(AnomalyKind.FIRST_ORDER_HUGE.value, 0))


def _parse_end(raw):
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SimulationConfigError(
            {"end": f"Invalid end {raw!r}: use an ISO 8601 date and time."}
        ) from None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
