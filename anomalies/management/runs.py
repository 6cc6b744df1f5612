"""Shared body of the train and detect commands."""

import time

from django.core.exceptions import ValidationError
from tqdm import tqdm

from .. import services
from ..models import Run
from . import options as cli


def run_command(command, kind, options):
    """Start runs from command options, wait with a progress bar, print a summary."""
    entity_types, detectors = cli.selection(options)
    try:
        entity_types, detectors, resolved = services.validate_request(
            kind, entity_types, detectors, cli.parameters(options)
        )
    except ValidationError as exc:
        raise cli.command_error(exc) from exc

    if options["background"]:
        runs = services.start_runs(
            kind, entity_types, detectors, cli.parameters(options), background=True
        )
        command.stdout.write(
            f"Queued {len(runs)} {kind} runs: "
            + ", ".join(str(run.pk) for run in runs)
            + ". Start a worker with: python manage.py qcluster"
        )
        return runs

    runs = []
    pairs = [(e, d) for e in entity_types for d in detectors]
    started = time.monotonic()
    with tqdm(pairs, desc=kind, unit="run", file=command.stderr) as bar:
        for entity_type, detector in bar:
            bar.set_postfix_str(f"{detector}/{entity_type}")
            runs.extend(
                services.start_runs(
                    kind,
                    [entity_type],
                    [detector],
                    cli.parameters(options),
                    background=False,
                )
            )
    headers = ["run", "detector", "entity", "status", "rows", "anomalies", "seconds"]
    rows = [
        [
            run.pk,
            run.detector,
            run.entity_type,
            run.status,
            run.rows_processed,
            run.anomalies_found if kind == Run.Kind.DETECT else "-",
            f"{run.duration_seconds or 0:.2f}",
        ]
        for run in runs
    ]
    command.stdout.write(cli.format_table(headers, rows))
    command.stdout.write(
        f"Finished {len(runs)} runs in {time.monotonic() - started:.1f} s."
    )
    failed = [run for run in runs if run.status == Run.Status.FAILED]
    for run in failed:
        command.stderr.write(
            f"Run {run.pk} {run.detector}/{run.entity_type} failed: {run.error}"
        )
    return runs
