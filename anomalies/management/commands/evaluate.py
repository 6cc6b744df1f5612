"""Management command: measure the active models against the simulator's labels."""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ... import evaluation, services, storage
from ...features import load_features
from .. import options as cli


def _cell(value):
    return "-" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Score the most recent rows with each active model and print precision, "
        "recall, F1, ROC-AUC and PR-AUC per detector and anomaly kind. Stores nothing."
    )

    def add_arguments(self, parser):
        cli.add_selection_arguments(parser)

    def handle(self, *args, **options):
        entity_types, detectors = cli.selection(options)
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError(f"Invalid --limit {limit}: use a whole number from 1.")
        detectors = detectors or list(services.REGISTRY)
        rows = []
        started = time.monotonic()
        for entity_type in entity_types:
            features, _times = load_features(entity_type, limit=limit)
            if features.empty:
                raise CommandError(
                    f"No {entity_type} rows to evaluate: simulate data first."
                )
            truth = evaluation.truth_for(entity_type, features.index)
            if (truth != "").sum() == 0:
                raise CommandError(
                    f"No simulator labels among the {len(features)} {entity_type} "
                    "rows read: run the simulator, or raise --limit."
                )
            for detector_name in tqdm(
                detectors, desc=entity_type, unit="detector", file=self.stderr
            ):
                try:
                    record = storage.active_model(detector_name, entity_type)
                    detector = storage.load_model(record)
                except storage.ModelLoadError as exc:
                    raise CommandError(str(exc)) from exc
                scores = services.score_features(detector, features)
                metrics = evaluation.metrics_for_scores(truth, scores)
                rows.append(self._row(detector_name, entity_type, "all", metrics))
                for kind, kind_metrics in metrics["per_kind"].items():
                    rows.append(
                        self._row(
                            detector_name,
                            entity_type,
                            kind,
                            {
                                "overall": kind_metrics,
                                "positives": kind_metrics["count"],
                            },
                        )
                    )
        headers = [
            "detector",
            "entity",
            "kind",
            "positives",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "pr_auc",
        ]
        self.stdout.write(cli.format_table(headers, rows))
        self.stdout.write(f"Evaluated in {time.monotonic() - started:.1f} s.")

    def _row(self, detector, entity_type, kind, metrics):
        overall = metrics["overall"]
        return [
            detector,
            entity_type,
            kind,
            metrics["positives"],
            *(_cell(overall[name]) for name in ("precision", "recall", "f1")),
            _cell(overall["roc_auc"]),
            _cell(overall["pr_auc"]),
        ]
