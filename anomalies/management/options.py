"""Command-line options shared by the train, detect and evaluate commands."""

import argparse

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from store.models import EntityType

from ..detectors import REGISTRY

# Option name: DetectorSettings field it overrides.
PARAMETER_OPTIONS = {
    "limit": "limit",
    "max_train_rows": "max_train_rows",
    "z_threshold": "z_threshold",
    "zscore_robust": "zscore_robust",
    "iforest_n_estimators": "iforest_n_estimators",
    "iforest_contamination": "iforest_contamination",
    "dbscan_eps": "dbscan_eps",
    "dbscan_min_samples": "dbscan_min_samples",
    "dbscan_max_train_rows": "dbscan_max_train_rows",
}


def add_selection_arguments(parser):
    parser.add_argument(
        "--entity",
        default="all",
        choices=[*EntityType.values, "all"],
        help="Entity type to process (default: all).",
    )
    parser.add_argument(
        "--algorithms",
        default="",
        help=f"Comma-separated detectors (default: all of {', '.join(REGISTRY)}).",
    )
    parser.add_argument(
        "--limit",
        type=int,
        help="Most recent rows to read (default: the detector settings).",
    )


def add_parameter_arguments(parser):
    parser.add_argument(
        "--max-train-rows",
        type=int,
        help="Most rows a model is fitted on, sampled at random from the rows read "
        "(default: the detector settings).",
    )
    parser.add_argument("--z-threshold", type=float, help="|z| that flags a row.")
    parser.add_argument(
        "--zscore-robust",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Use median and MAD (--zscore-robust) or mean and standard deviation "
        "(--no-zscore-robust) in the Z-score detector. Default: the settings.",
    )
    parser.add_argument("--iforest-n-estimators", type=int, help="Trees in the forest.")
    parser.add_argument(
        "--iforest-contamination",
        type=float,
        help="Share of training rows above the Isolation Forest threshold.",
    )
    parser.add_argument(
        "--dbscan-eps", type=float, help="DBSCAN radius in standardised units."
    )
    parser.add_argument(
        "--dbscan-min-samples", type=int, help="Neighbours a DBSCAN core sample needs."
    )
    parser.add_argument(
        "--dbscan-max-train-rows", type=int, help="Rows sampled to fit DBSCAN."
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="Queue the runs for the django-q2 cluster instead of waiting.",
    )


def selection(options):
    """Return ``(entity_types, detectors)`` from parsed options, checking names."""
    entity = options["entity"]
    entity_types = list(EntityType.values) if entity == "all" else [entity]
    names = [name.strip() for name in options["algorithms"].split(",") if name.strip()]
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise CommandError(
            f"Unknown detector {unknown[0]!r} in --algorithms: use one or more of "
            f"{', '.join(REGISTRY)}, separated by commas."
        )
    return entity_types, names or None


def parameters(options):
    """Return the detector parameters given on the command line."""
    return {
        field: options[option]
        for option, field in PARAMETER_OPTIONS.items()
        if options.get(option) is not None
    }


def command_error(exc):
    """Turn a ValidationError into a CommandError that names each option."""
    if not isinstance(exc, ValidationError) or not hasattr(exc, "message_dict"):
        return CommandError(str(exc))
    lines = []
    for field, messages in exc.message_dict.items():
        option = "--" + field.replace("_", "-")
        if field == "algorithms":
            option = "--algorithms"
        elif field == "entity_type":
            option = "--entity"
        lines.extend(f"{option}: {message}" for message in messages)
    return CommandError("\n".join(lines))


def format_table(headers, rows):
    """Format rows as a plain text table with aligned columns."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
