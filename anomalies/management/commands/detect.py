"""Management command: score rows with the active models and store findings."""

from django.core.management.base import BaseCommand, CommandError

from ...models import Run
from .. import options as cli
from ..runs import run_command


class Command(BaseCommand):
    help = "Score rows with the active models and store the findings."

    def add_arguments(self, parser):
        cli.add_selection_arguments(parser)
        cli.add_parameter_arguments(parser)

    def handle(self, *args, **options):
        runs = run_command(self, Run.Kind.DETECT, options)
        failed = [run for run in runs if run.status == Run.Status.FAILED]
        if failed:
            raise CommandError(f"{len(failed)} of {len(runs)} runs failed; see above.")
