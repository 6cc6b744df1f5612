"""Management command: fill an empty database with a demo shop and its findings."""

import logging
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from activities.models import UserActivity
from simulator.config import SimulationConfigError
from simulator.engine import run_simulation
from store.models import Category, Customer, Order, Product

from ... import services
from ...detectors import REGISTRY
from ...features import ENTITY_TYPES
from .. import options as cli

logger = logging.getLogger(__name__)

# The demo shop: big enough for every anomaly kind to appear and for the
# detectors to learn, small enough that simulating, training all six models
# and detecting takes seconds rather than minutes.
DEMO_SHOP = {
    "customers": 200,
    "products": 100,
    "orders": 2_000,
    "activities": 40_000,
}
DEMO_SEED = 42
STORE_MODELS = (Category, Product, Customer, Order, UserActivity)


class Command(BaseCommand):
    help = (
        "On a database without store or activity rows, simulate a seeded demo shop, "
        "train every detector on activities and orders, and run detection, so that "
        "the first page opened shows findings. Does nothing when data exists, "
        "unless --force is given."
    )

    def add_arguments(self, parser):
        for name, value in DEMO_SHOP.items():
            parser.add_argument(
                f"--{name}",
                type=int,
                default=value,
                help=f"{name.capitalize()} of the demo shop. Default: {value:,}.",
            )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEMO_SEED,
            help="Simulation seed; the same seed gives the same shop. "
            "Default: %(default)s.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Simulate, train and detect even when the database holds data.",
        )

    def handle(self, *args, **options):
        existing = {
            model._meta.label: model.objects.count()
            for model in STORE_MODELS
            if model.objects.exists()
        }
        if existing and not options["force"]:
            counts = ", ".join(
                f"{count:,} {label}" for label, count in existing.items()
            )
            self.stdout.write(
                f"Data exists ({counts}); nothing to do. Use --force to add a demo "
                "shop and retrain anyway."
            )
            return

        started = time.monotonic()
        result = self._simulate(options)
        self._print_simulation(result)
        self._run_all("train")
        detect_runs = self._run_all("detect")
        self._print_findings(detect_runs)
        seconds = time.monotonic() - started
        logger.info("First start finished in %.1f s", seconds)
        self.stdout.write(f"First start finished in {seconds:.1f} s.")

    def _simulate(self, options):
        from simulator.config import SimulationConfig

        try:
            config = SimulationConfig(
                **{name: options[name] for name in DEMO_SHOP}, seed=options["seed"]
            )
            with tqdm(total=100, desc="simulate", unit="%", file=self.stderr) as bar:

                def progress(fraction, message):
                    bar.set_postfix_str(message)
                    bar.update(round(fraction * 100) - bar.n)

                return run_simulation(config, progress=progress)
        except SimulationConfigError as exc:
            raise CommandError(
                "Invalid demo shop: "
                + "; ".join(f"--{f}: {m}" for f, m in exc.errors.items())
            ) from exc

    def _run_all(self, kind):
        pairs = [(e, d) for e in ENTITY_TYPES for d in REGISTRY]
        runs = []
        with tqdm(pairs, desc=kind, unit="run", file=self.stderr) as bar:
            for entity_type, detector in bar:
                bar.set_postfix_str(f"{detector}/{entity_type}")
                try:
                    runs.extend(
                        services.start_runs(
                            kind, [entity_type], [detector], background=False
                        )
                    )
                except ValidationError as exc:
                    raise cli.command_error(exc) from exc
        failed = [run for run in runs if run.status != "succeeded"]
        if failed:
            raise CommandError(
                "; ".join(
                    f"{kind} run {run.pk} ({run.detector}/{run.entity_type}) failed: "
                    f"{run.error}"
                    for run in failed
                )
            )
        return runs

    def _print_simulation(self, result):
        counts = ", ".join(f"{count:,} {name}" for name, count in result.counts.items())
        self.stdout.write(f"Simulated a demo shop with seed {result.seed}: {counts}.")
        rows = [
            [kind, value["incidents"], value["activities"], value["orders"]]
            for kind, value in result.kinds.items()
        ]
        self.stdout.write(
            cli.format_table(["kind", "incidents", "activities", "orders"], rows)
        )

    def _print_findings(self, runs):
        rows = [
            [run.detector, run.entity_type, run.rows_processed, run.anomalies_found]
            for run in runs
        ]
        self.stdout.write(
            cli.format_table(["detector", "entity", "rows", "findings"], rows)
        )
