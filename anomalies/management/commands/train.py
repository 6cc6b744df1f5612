"""Management command: train detectors on activity events and orders."""

from django.core.management.base import BaseCommand, CommandError

from ...models import Run
from .. import options as cli
from ..runs import run_command


class Command(BaseCommand):
    help = "Train detectors and save them as the active model versions."

    def add_arguments(self, parser):
        cli.add_selection_arguments(parser)
        cli.add_parameter_arguments(parser)

    def handle(self, *args, **options):
        runs = run_command(self, Run.Kind.TRAIN, options)
        failed = [run for run in runs if run.status == Run.Status.FAILED]
        if failed:
            raise CommandError(f"{len(failed)} of {len(runs)} runs failed; see above.")
