"""Run a simulation: generate the shop in memory, then write it in whole units.

``run_simulation`` is the entry point for the command, the API, the task
queue and the first start. Generation is vectorised with numpy. Rows are
written in chunks, and each chunk is one transaction that contains whole
sessions and whole incidents with their labels, so an interrupted run never
leaves part of an incident behind.
"""

import dataclasses
import logging
import secrets
import time

import numpy as np
from django.db import connection, transaction

from activities.models import UserActivity
from simulator.config import SimulationConfigError
from simulator.generation import vocabulary as vocab
from simulator.generation.incidents import KIND_CODES, IncidentTraffic, plan_incidents
from simulator.generation.normal import NormalTraffic, page_urls, search_terms
from simulator.generation.traffic import Traffic
from simulator.generation.world import build_world
from simulator.models import AnomalyLabel
from simulator.writer import (
    DetailsBuilder,
    as_nullable,
    count_rows,
    deferred_sqlite_indexes,
    format_cents,
    format_ips,
    format_sessions,
    format_times,
    insert_rows,
    lock_and_max,
    sync_sequences,
)
from store.models import (
    Category,
    Customer,
    DataBatch,
    Order,
    OrderItem,
    Product,
    Source,
)

logger = logging.getLogger(__name__)

# Rows (events, orders, items) per write transaction.
CHUNK_ROWS = 100_000
# On SQLite, a load of at least this many activities, and no fewer than the
# table already holds, runs as one transaction that rebuilds the indexes
# at the end instead of updating them row by row.
SQLITE_BULK_MIN_ROWS = 200_000
TRAFFIC_MODELS = (UserActivity, Order, OrderItem, AnomalyLabel)
SOURCE = Source.SIMULATOR.value
ORDER_STATUS_BY_AGE = (
    # (youngest age in days, status)
    (0, Order.Status.PENDING.value),
    (1, Order.Status.PROCESSING.value),
    (2, Order.Status.SHIPPED.value),
    (6, Order.Status.DELIVERED.value),
)
CANCELLED_RATE = 0.04


@dataclasses.dataclass
class SimulationResult:
    """Summary of a run: the batch, row counts, and incidents and rows per kind."""

    batch: DataBatch
    seed: int
    counts: dict
    kinds: dict
    seconds: dict

    def as_dict(self):
        return {
            "batch_id": self.batch.pk,
            "seed": self.seed,
            "counts": self.counts,
            "kinds": self.kinds,
            "seconds": self.seconds,
        }


def email_tag(seed):
    """Return the short tag that every e-mail of a run with ``seed`` carries."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    value = seed % 36**6
    tag = ""
    for _ in range(6):
        value, digit = divmod(value, 36)
        tag = digits[digit] + tag
    return "s" + tag


def run_simulation(config, progress=None):
    """Generate and store one simulated shop; return a SimulationResult.

    ``config`` is a validated SimulationConfig. ``progress``, when given, is
    called as ``progress(fraction, message)`` between write transactions,
    never inside one. Raises SimulationConfigError before writing anything
    when the seed's e-mails are already in the database.
    """
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    seed = config.seed if config.seed is not None else secrets.randbits(63)
    tag = email_tag(seed)
    if Customer.objects.filter(email__contains=f".{tag}.").exists():
        raise SimulationConfigError(
            {
                "seed": f"Seed {seed} was already used by simulated customers still "
                "in the database: remove them with reset (simulate --reset) or "
                "choose another seed."
            }
        )
    logger.info("Simulation started with seed %s: %s", seed, config.to_dict())
    report(0.0, "Generating traffic")

    rng = np.random.default_rng(seed)
    plan = plan_incidents(config, rng)
    world = build_world(
        config,
        rng,
        tag,
        reserved_count=config.new_customers_needed(),
        attacker_ip_count=plan.attacker_ips,
    )
    traffic = Traffic()
    anomalous_events = sum(
        int(plan.sizes[kind].sum()) for kind in plan.sizes if kind in ACTIVITY_KIND_SET
    )
    anomalous_orders = sum(
        int(plan.sizes[kind].sum())
        for kind in plan.sizes
        if kind not in ACTIVITY_KIND_SET
    ) + plan.count("account_takeover")
    incident_traffic = IncidentTraffic(world, rng, traffic)
    incident_traffic.add(plan)
    NormalTraffic(world, rng, traffic).add(
        config.activities - anomalous_events, config.orders - anomalous_orders
    )
    incident_traffic.add_takeovers(plan)
    events, orders, items = traffic.finish()
    orders["status"] = _order_status(orders, world.end_us, rng)
    generated = time.perf_counter()
    report(0.1, "Writing catalogue and customers")

    writer = _Writer(config, seed, world, events, orders, items, report)
    batch = writer.write()
    finished = time.perf_counter()
    kinds = _kind_summary(events, orders, config.kinds)
    counts = {
        "categories": writer.categories_created,
        "products": world.n_products,
        "customers": world.n_customers,
        "orders": len(orders),
        "order_items": len(items),
        "activities": len(events),
        "labels": writer.labels_written,
    }
    seconds = {
        "generate": round(generated - started, 3),
        "write": round(finished - generated, 3),
        "total": round(finished - started, 3),
    }
    batch.stats = {"counts": counts, "kinds": kinds, "seconds": seconds}
    batch.save(update_fields=["stats"])
    missing = missing_kinds(kinds)
    if missing:
        logger.warning(
            "Simulation batch %s injected no incident of %s: their share of the "
            "anomaly budget is smaller than one incident",
            batch.pk,
            ", ".join(missing),
        )
    logger.info(
        "Simulation batch %s finished in %.1f s: %s", batch.pk, seconds["total"], counts
    )
    report(1.0, "Done")
    return SimulationResult(batch, seed, counts, kinds, seconds)


ACTIVITY_KIND_SET = {
    "burst",
    "brute_force",
    "credential_stuffing",
    "scraper",
    "account_takeover",
}


def _order_status(orders, end_us, rng):
    age_days = (end_us - orders["ts"].to_numpy()) / 86_400e6
    status = np.full(len(orders), ORDER_STATUS_BY_AGE[0][1], dtype=object)
    for youngest, name in ORDER_STATUS_BY_AGE[1:]:
        status[age_days >= youngest] = name
    cancelled = rng.random(len(orders)) < CANCELLED_RATE
    status[cancelled & (orders["kind"].to_numpy() < 0)] = Order.Status.CANCELLED.value
    return status


def missing_kinds(kinds):
    """Return the requested kinds of a kind summary that got no incident."""
    return [kind for kind, entry in kinds.items() if entry["incidents"] == 0]


def _kind_summary(events, orders, requested=()):
    """Return {kind: {"incidents", "activities", "orders"}} per requested kind.

    A requested kind whose share of the anomaly budget was smaller than one
    incident is listed with zeros, so that callers can say it is missing.
    """
    summary = {
        kind: {"incidents": 0, "activities": 0, "orders": 0} for kind in requested
    }
    for frame, column in ((events, "activities"), (orders, "orders")):
        labelled = frame[frame["kind"] >= 0]
        for code, group in labelled.groupby("kind"):
            entry = summary.setdefault(
                KIND_CODES[code], {"incidents": 0, "activities": 0, "orders": 0}
            )
            entry[column] = len(group)
            entry["incidents"] = max(entry["incidents"], group["incident"].nunique())
    return dict(sorted(summary.items()))


class _Writer:
    """Write one generated shop: catalogue first, then traffic chunk by chunk."""

    def __init__(self, config, seed, world, events, orders, items, report):
        self.config = config
        self.seed = seed
        self.world = world
        self.events = events
        self.orders = orders
        self.items = items
        self.report = report
        self.categories_created = 0
        self.labels_written = 0

    def write(self):
        with transaction.atomic():
            parameters = self.config.to_dict() | {"seed": self.seed}
            self.batch = DataBatch.objects.create(
                source=SOURCE,
                kind="simulation",
                label=f"Simulation, seed {self.seed}",
                parameters=parameters,
            )
            category_ids = self._write_categories()
            self._write_products(category_ids)
            self._write_customers()
            sync_sequences([Product, Customer])
        self.details = DetailsBuilder(
            self.world,
            self.product_base,
            page_urls(self.world.category_names),
            search_terms(self.world.category_names),
        )
        self._write_traffic()
        return self.batch

    def _write_categories(self):
        names = self.world.category_names
        existing = dict(
            Category.objects.filter(name__in=names).values_list("name", "id")
        )
        missing = [name for name in names if name not in existing]
        created = Category.objects.bulk_create(
            [Category(name=name, source=SOURCE, batch=self.batch) for name in missing]
        )
        if connection.vendor != "postgresql" or any(c.pk is None for c in created):
            existing = dict(
                Category.objects.filter(name__in=names).values_list("name", "id")
            )
        else:
            existing |= {category.name: category.pk for category in created}
        self.categories_created = len(missing)
        return np.array([existing[name] for name in names], dtype=np.int64)

    def _write_products(self, category_ids):
        world = self.world
        self.product_base = lock_and_max(Product)
        ids = self.product_base + 1 + np.arange(world.n_products)
        rows = zip(
            ids.tolist(),
            [SOURCE] * len(ids),
            [self.batch.pk] * len(ids),
            world.product_names.tolist(),
            [""] * len(ids),
            format_cents(world.product_cents).tolist(),
            category_ids[world.product_category].tolist(),
            [""] * len(ids),
            strict=True,
        )
        insert_rows(
            Product,
            [
                "id",
                "source",
                "batch_id",
                "name",
                "description",
                "price",
                "category_id",
                "external_id",
            ],
            list(rows),
        )

    def _write_customers(self):
        world = self.world
        self.customer_base = lock_and_max(Customer)
        count = world.n_customers
        ids = self.customer_base + 1 + np.arange(count)
        rows = zip(
            ids.tolist(),
            [SOURCE] * count,
            [self.batch.pk] * count,
            world.emails[:count].tolist(),
            world.customer_first.tolist(),
            world.customer_last.tolist(),
            format_times(world.customer_created).tolist(),
            [""] * count,
            strict=True,
        )
        insert_rows(
            Customer,
            [
                "id",
                "source",
                "batch_id",
                "email",
                "first_name",
                "last_name",
                "created_at",
                "external_id",
            ],
            list(rows),
        )

    def _chunks(self):
        """Yield (unit start, unit end) ranges holding about CHUNK_ROWS rows each."""
        events, orders, items = self.events, self.orders, self.items
        n_units = int(
            max(
                events["unit"].max() if len(events) else -1,
                orders["unit"].max() if len(orders) else -1,
            )
            + 1
        )
        rows = np.bincount(events["unit"], minlength=n_units)
        rows += np.bincount(orders["unit"], minlength=n_units)
        item_units = orders["unit"].to_numpy()[items["order"].to_numpy()]
        rows += np.bincount(item_units, minlength=n_units)
        before = np.cumsum(rows) - rows
        chunk_of_unit = before // CHUNK_ROWS
        edges = np.flatnonzero(np.r_[True, chunk_of_unit[1:] != chunk_of_unit[:-1]])
        ends = np.r_[edges[1:], n_units]
        yield from zip(edges.tolist(), ends.tolist(), strict=True)

    def _write_traffic(self):
        events, orders, items = self.events, self.orders, self.items
        chunks = list(self._chunks())
        event_units = events["unit"].to_numpy()
        order_units = orders["unit"].to_numpy()
        item_orders = items["order"].to_numpy()

        def write_chunks():
            for number, (first_unit, end_unit) in enumerate(chunks, start=1):
                e0, e1 = np.searchsorted(event_units, [first_unit, end_unit])
                o0, o1 = np.searchsorted(order_units, [first_unit, end_unit])
                i0, i1 = np.searchsorted(item_orders, [o0, o1])
                with transaction.atomic():
                    self._write_chunk(
                        events.iloc[e0:e1], orders.iloc[o0:o1], items.iloc[i0:i1], o0
                    )
                self.report(
                    0.1 + 0.85 * number / len(chunks),
                    f"Wrote chunk {number} of {len(chunks)}",
                )

        if not self._bulk_load():
            write_chunks()
            return
        # NOTE: other connections see none of this load, progress included,
        # until the single transaction commits.
        with transaction.atomic():
            with deferred_sqlite_indexes(TRAFFIC_MODELS):
                write_chunks()
                self.report(0.95, "Rebuilding indexes")

    def _bulk_load(self):
        """Return whether to load traffic in one transaction with deferred indexes."""
        if connection.vendor != "sqlite" or len(self.events) < SQLITE_BULK_MIN_ROWS:
            return False
        return count_rows(UserActivity) <= len(self.events)

    def _write_chunk(self, events, orders, items, first_order):
        batch_id = self.batch.pk
        order_base = lock_and_max(Order)
        item_base = lock_and_max(OrderItem)
        event_base = lock_and_max(UserActivity)
        incident_base = lock_and_max(AnomalyLabel, "incident_id")
        order_ids = order_base + 1 + np.arange(len(orders))
        # Order ids by position in the whole run, for events and items.
        order_id_at = np.zeros(first_order + len(orders), dtype=np.int64)
        order_id_at[first_order:] = order_ids
        totals = format_cents(orders["total_cents"].to_numpy())
        total_at = np.empty(first_order + len(orders), dtype=object)
        total_at[first_order:] = totals

        count = len(orders)
        insert_rows(
            Order,
            [
                "id",
                "source",
                "batch_id",
                "customer_id",
                "created_at",
                "total_amount",
                "status",
                "external_id",
            ],
            list(
                zip(
                    order_ids.tolist(),
                    [SOURCE] * count,
                    [batch_id] * count,
                    (orders["customer"].to_numpy() + self.customer_base + 1).tolist(),
                    format_times(orders["ts"].to_numpy()).tolist(),
                    totals.tolist(),
                    orders["status"].tolist(),
                    [""] * count,
                    strict=True,
                )
            ),
        )
        count = len(items)
        insert_rows(
            OrderItem,
            ["id", "order_id", "product_id", "quantity", "unit_price"],
            list(
                zip(
                    (item_base + 1 + np.arange(count)).tolist(),
                    order_id_at[items["order"].to_numpy()].tolist(),
                    (items["product"].to_numpy() + self.product_base + 1).tolist(),
                    items["quantity"].tolist(),
                    format_cents(items["unit_cents"].to_numpy()).tolist(),
                    strict=True,
                )
            ),
        )

        count = len(events)
        event_ids = event_base + 1 + np.arange(count)
        customers = events["customer"].to_numpy()
        customer_ids = np.where(customers >= 0, customers + self.customer_base + 1, -1)
        user_agents = np.array(vocab.USER_AGENTS, dtype=object)
        insert_rows(
            UserActivity,
            [
                "id",
                "source",
                "batch_id",
                "customer_id",
                "session_id",
                "timestamp",
                "action_type",
                "details",
                "ip_address",
                "user_agent",
            ],
            list(
                zip(
                    event_ids.tolist(),
                    [SOURCE] * count,
                    [batch_id] * count,
                    as_nullable(customer_ids).tolist(),
                    format_sessions(events["session"].to_numpy(), self.seed).tolist(),
                    format_times(events["ts"].to_numpy()).tolist(),
                    np.array(vocab.ACTIONS, dtype=object)[events["action"]].tolist(),
                    self.details.build(events, order_id_at, total_at).tolist(),
                    format_ips(events["ip"].to_numpy()).tolist(),
                    user_agents[events["ua"].to_numpy()].tolist(),
                    strict=True,
                )
            ),
        )
        self._write_labels(events, event_ids, orders, order_ids, incident_base)
        sync_sequences([Order, OrderItem, UserActivity, AnomalyLabel])

    def _write_labels(self, events, event_ids, orders, order_ids, incident_base):
        event_kind = events["kind"].to_numpy()
        order_kind = orders["kind"].to_numpy()
        event_mask = event_kind >= 0
        order_mask = order_kind >= 0
        incidents = np.concatenate(
            [
                events["incident"].to_numpy()[event_mask],
                orders["incident"].to_numpy()[order_mask],
            ]
        )
        if not len(incidents):
            return
        # Incident ids continue from the largest stored one, in order of appearance.
        _unique, first_seen, inverse = np.unique(
            incidents, return_index=True, return_inverse=True
        )
        rank = np.empty(len(first_seen), dtype=np.int64)
        rank[np.argsort(first_seen, kind="stable")] = np.arange(len(first_seen))
        incident_ids = incident_base + 1 + rank[inverse]
        label_base = lock_and_max(AnomalyLabel)
        count = len(incidents)
        kinds = np.array(KIND_CODES, dtype=object)
        entity_types = ["activity"] * int(event_mask.sum()) + ["order"] * int(
            order_mask.sum()
        )
        insert_rows(
            AnomalyLabel,
            ["id", "entity_type", "entity_id", "kind", "incident_id", "batch_id"],
            list(
                zip(
                    (label_base + 1 + np.arange(count)).tolist(),
                    entity_types,
                    np.concatenate(
                        [event_ids[event_mask], order_ids[order_mask]]
                    ).tolist(),
                    kinds[
                        np.concatenate([event_kind[event_mask], order_kind[order_mask]])
                    ].tolist(),
                    incident_ids.tolist(),
                    [self.batch.pk] * count,
                    strict=True,
                )
            ),
        )
        self.labels_written += count


def reset_simulated_data():
    """Delete every simulated row and its labels; return the count per table.

    Rows from other sources stay. A simulated customer or product that a
    non-simulated row still references stays too, detached from its batch,
    so that removing the simulation never removes data a user entered.
    """
    quote = connection.ops.quote_name
    activity = quote(UserActivity._meta.db_table)
    order = quote(Order._meta.db_table)
    item = quote(OrderItem._meta.db_table)
    customer = quote(Customer._meta.db_table)
    product = quote(Product._meta.db_table)
    source = [SOURCE]
    statements = [
        ("activities", f"DELETE FROM {activity} WHERE source = %s", source),
        (
            "order_items",
            f"DELETE FROM {item} WHERE order_id IN "
            f"(SELECT id FROM {order} WHERE source = %s)",
            source,
        ),
        ("orders", f"DELETE FROM {order} WHERE source = %s", source),
        (
            "customers",
            f"DELETE FROM {customer} WHERE source = %s "
            f"AND id NOT IN (SELECT customer_id FROM {order}) "
            f"AND id NOT IN (SELECT customer_id FROM {activity} "
            "WHERE customer_id IS NOT NULL)",
            source,
        ),
        (
            "products",
            f"DELETE FROM {product} WHERE source = %s "
            f"AND id NOT IN (SELECT product_id FROM {item})",
            source,
        ),
    ]
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for name, sql, params in statements:
            cursor.execute(sql, params)
            counts[name] = cursor.rowcount
        batches = DataBatch.objects.filter(source=SOURCE, kind="simulation")
        counts["categories"] = (
            Category.objects.filter(source=SOURCE, products__isnull=True)
            .distinct()
            .delete()[0]
        )
        for model in (Customer, Product, Category):
            kept = model.objects.filter(source=SOURCE, batch__in=batches)
            if kept.exists():
                logger.warning(
                    "Kept %s simulated %s rows that other data references",
                    kept.count(),
                    model._meta.model_name,
                )
                kept.update(batch=None)
        counts["labels"] = AnomalyLabel.objects.filter(batch__in=batches).delete()[0]
        counts["batches"] = batches.delete()[0]
    logger.info("Removed simulated data: %s", counts)
    return counts
