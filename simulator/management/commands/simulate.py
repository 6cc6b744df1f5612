"""Fill the database with a simulated shop and its labelled anomalies."""

import logging

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from simulator.config import ALL_KINDS, SimulationConfig, SimulationConfigError
from simulator.engine import missing_kinds, reset_simulated_data, run_simulation

logger = logging.getLogger(__name__)
DEFAULTS = SimulationConfig.__dataclass_fields__


def default(name):
    return DEFAULTS[name].default


class Command(BaseCommand):
    help = (
        "Generate customers, products, orders and activity events that look like a "
        "real shop's, with anomalies injected at the given rates and labelled."
    )

    def add_arguments(self, parser):
        counts = (
            ("customers", "Customers to create."),
            ("products", "Products to create."),
            ("orders", "Orders to create, anomalous ones included."),
            ("activities", "Activity events to create, anomalous ones included."),
        )
        for name, text in counts:
            parser.add_argument(
                f"--{name}",
                type=int,
                default=default(name),
                help=f"{text} Default: {default(name):,}.",
            )
        parser.add_argument(
            "--order-anomaly-rate",
            type=float,
            default=default("order_anomaly_rate"),
            help="Approximate fraction of orders that are anomalous, from 0 to 0.5. "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--activity-anomaly-rate",
            type=float,
            default=default("activity_anomaly_rate"),
            help="Approximate fraction of activity events that are anomalous, from 0 "
            "to 0.5. Default: %(default)s.",
        )
        parser.add_argument(
            "--kinds",
            default="",
            help="Mix of anomaly kinds, comma-separated, each KIND or KIND:WEIGHT; "
            "the rates are split between the selected kinds by weight. "
            f"Kinds: {', '.join(ALL_KINDS)}. Default: all, equal weights.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=default("days"),
            help="Length of the simulated time span, ending now, in days. "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--locale",
            default=default("locale"),
            help="Faker locale of names. Default: %(default)s.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Random seed; the same seed and settings give the same data. "
            "Default: a random seed, printed in the summary.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Remove previously simulated rows (source simulator) and their "
            "labels before generating; rows from other sources stay.",
        )
        parser.add_argument(
            "--reset-only",
            action="store_true",
            help="Remove previously simulated rows and stop.",
        )

    def handle(self, *args, **options):
        config = None
        if not options["reset_only"]:
            try:
                config = SimulationConfig(
                    customers=options["customers"],
                    products=options["products"],
                    orders=options["orders"],
                    activities=options["activities"],
                    order_anomaly_rate=options["order_anomaly_rate"],
                    activity_anomaly_rate=options["activity_anomaly_rate"],
                    kinds=options["kinds"] or None,
                    days=options["days"],
                    locale=options["locale"],
                    seed=options["seed"],
                )
            except SimulationConfigError as exc:
                raise CommandError(_option_names(exc)) from None
        if options["reset"] or options["reset_only"]:
            removed = reset_simulated_data()
            summary = ", ".join(f"{count:,} {name}" for name, count in removed.items())
            self.stdout.write(f"Removed simulated data: {summary}.")
        if config is None:
            return

        bar = tqdm(
            total=100, file=self.stdout, unit="%", disable=options["verbosity"] < 1
        )

        def progress(fraction, message):
            bar.set_description(message)
            bar.update(round(fraction * 100) - bar.n)

        try:
            result = run_simulation(config, progress=progress)
        except SimulationConfigError as exc:
            raise CommandError(_option_names(exc)) from None
        finally:
            bar.close()
        self._summary(result)

    def _summary(self, result):
        write = self.stdout.write
        write(
            f"Simulation batch {result.batch.pk}, seed {result.seed}, "
            f"{result.seconds['total']:.1f} s."
        )
        for name, count in result.counts.items():
            write(f"  {name:<14} {count:>12,}")
        write("")
        write(f"  {'kind':<22} {'incidents':>10} {'activities':>11} {'orders':>8}")
        for kind, entry in result.kinds.items():
            write(
                f"  {kind:<22} {entry['incidents']:>10,} {entry['activities']:>11,} "
                f"{entry['orders']:>8,}"
            )
        missing = missing_kinds(result.kinds)
        if missing:
            write(
                self.style.WARNING(
                    f"No incident of {', '.join(missing)}: their share of the "
                    "anomaly budget is smaller than one incident. Raise "
                    "--activities, --orders or the anomaly rates, or narrow --kinds."
                )
            )


def _option_names(exc):
    """Return the error message with settings named as command-line options."""
    return "; ".join(
        f"--{field.replace('_', '-')}: {message}"
        for field, message in exc.errors.items()
    )
