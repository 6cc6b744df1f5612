"""Import Apache or nginx access logs as user activity, or list and remove imports."""

import zlib
import zoneinfo
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from activities.importers.parser import GZIP_MAGIC
from activities.importers.rules import RulesError
from activities.importers.service import (
    AlreadyImported,
    NothingToImport,
    import_access_log,
    list_imports,
    remove_import,
    resolve_rules,
)
from activities.importers.sessions import DEFAULT_SESSION_GAP_MINUTES
from store.models import DataBatch

# The importing process stores rows and infers sessions; more parsers than
# this would wait for it.
MAX_PARSER_WORKERS = 2


class Command(BaseCommand):
    help = (
        "Import Apache/nginx access logs (common or combined format, plain or gzip) "
        "as user activity events, one batch per file. Re-importing a file adds "
        "nothing; --list shows the imports and --remove-batch deletes one."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", metavar="FILE", help="Log files.")
        parser.add_argument(
            "--rules",
            metavar="FILE",
            help="JSON file of action-type rules; default: the "
            "ANOMALENS_ACCESS_LOG_RULES setting, else the built-in rules.",
        )
        parser.add_argument(
            "--session-gap",
            type=int,
            default=DEFAULT_SESSION_GAP_MINUTES,
            metavar="MINUTES",
            help="Inactivity, in minutes, after which a client's next request "
            f"starts a new session. Default: {DEFAULT_SESSION_GAP_MINUTES}.",
        )
        parser.add_argument(
            "--naive-time-zone",
            default="UTC",
            metavar="ZONE",
            help="IANA time zone for timestamps written without an offset, "
            "e.g. Europe/Berlin. Default: UTC.",
        )
        parser.add_argument(
            "--samples",
            type=int,
            default=5,
            help="Skipped lines to show per file, with line number and reason. "
            "Default: 5.",
        )
        parser.add_argument(
            "--parser-workers",
            type=int,
            default=0,
            metavar="N",
            help="Processes that parse a large file while this one stores it "
            "(0 to 2). They pay off only when the machine has idle cores. "
            "Default: 0.",
        )
        parser.add_argument(
            "--list", action="store_true", help="List access-log imports and exit."
        )
        parser.add_argument(
            "--remove-batch",
            type=int,
            metavar="ID",
            help="Delete the access-log import with this batch id and its events.",
        )

    def handle(self, *args, **options):
        if options["list"]:
            self._list()
            return
        if options["remove_batch"] is not None:
            self._remove(options["remove_batch"])
            return
        if not options["files"]:
            raise CommandError(
                "Give at least one FILE, or --list or --remove-batch ID."
            )

        paths = [Path(name) for name in options["files"]]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise CommandError(f"File not found: {', '.join(missing)}.")
        if options["session_gap"] <= 0:
            raise CommandError(
                f"Invalid --session-gap {options['session_gap']}: use a positive "
                "number of minutes."
            )
        if not 0 <= options["parser_workers"] <= MAX_PARSER_WORKERS:
            raise CommandError(
                f"Invalid --parser-workers {options['parser_workers']}: use a "
                f"number from 0 to {MAX_PARSER_WORKERS}."
            )
        try:
            zoneinfo.ZoneInfo(options["naive_time_zone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(
                f"Invalid --naive-time-zone {options['naive_time_zone']!r}: use an "
                "IANA zone name such as UTC or Europe/Berlin."
            ) from exc
        try:
            rules, rules_origin = resolve_rules(options["rules"])
        except RulesError as exc:
            raise CommandError(str(exc)) from exc

        failures = 0
        for path in paths:
            failures += not self._import(path, rules, rules_origin, options)
        if failures:
            raise CommandError(f"{failures} of {len(paths)} file(s) were not imported.")

    def _import(self, path, rules, rules_origin, options):
        with path.open("rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
        bar = tqdm(
            total=None if compressed else path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            file=self.stdout,
            disable=options["verbosity"] == 0,
        )
        try:
            with bar:
                result = import_access_log(
                    path,
                    rules=rules,
                    rules_origin=rules_origin,
                    session_gap_minutes=options["session_gap"],
                    naive_time_zone=options["naive_time_zone"],
                    max_samples=max(options["samples"], 0),
                    parser_workers=options["parser_workers"],
                    progress=bar.update,
                )
        except AlreadyImported as exc:
            self.stdout.write(self.style.WARNING(f"Skipped: {exc}"))
            return True
        except (NothingToImport, OSError, EOFError, zlib.error) as exc:
            # gzip raises OSError, EOFError or zlib.error on a damaged or
            # truncated file, depending on where the damage lies.
            self.stderr.write(self.style.ERROR(f"Not imported: {path}: {exc}"))
            return False
        self._report(result)
        return True

    def _report(self, result):
        stats = result.stats()
        write = self.stdout.write
        write(self.style.SUCCESS(f"{result.path}: imported as batch {result.batch.pk}"))
        write(f"  lines read:       {stats['lines_read']:,}")
        write(f"  imported:         {stats['imported']:,}")
        write(f"  skipped:          {stats['skipped']:,}")
        for reason, count in sorted(stats["skipped_by_reason"].items()):
            write(f"    {reason}: {count:,}")
        for sample in stats["skipped_samples"]:
            write(f"    line {sample['line']}: {sample['reason']}: {sample['text']!r}")
        write(f"  distinct clients: {stats['distinct_clients']:,}")
        write(f"  sessions:         {stats['sessions']:,}")
        write(
            f"  time span (UTC):  {stats['first_timestamp']} to "
            f"{stats['last_timestamp']}"
        )
        if stats["zone_less_lines"]:
            write(
                f"  lines without a zone offset: {stats['zone_less_lines']:,} "
                f"(read as {result.batch.parameters['naive_time_zone']})"
            )
        if stats["malformed_requests"]:
            write(
                f"  requests that are not 'METHOD target': "
                f"{stats['malformed_requests']:,} (kept, raw text in details)"
            )
        actions = ", ".join(
            f"{name} {count:,}" for name, count in stats["actions"].items()
        )
        write(f"  actions:          {actions}")
        write(f"  seconds:          {stats['seconds']}")

    def _list(self):
        imports = list_imports()
        if not imports:
            self.stdout.write("No access-log imports.")
            return
        for batch, rows in imports:
            self.stdout.write(
                f"{batch.pk:>6}  {batch.created_at:%Y-%m-%d %H:%M}  {rows:>10,} events  "
                f"{batch.label}"
            )

    def _remove(self, batch_id):
        try:
            deleted = remove_import(batch_id)
        except DataBatch.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Removed batch {batch_id} and its {deleted:,} events.")
        )
