"""Import order exports (Olist, UCI Online Retail, generic CSV), or list and remove them."""

import zoneinfo
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from store.importers.presets import (
    OrdersFileError,
    RejectedRows,
    parse_mapping,
    read_generic,
    read_olist,
    read_uci,
)
from store.importers.writer import (
    AlreadyImported,
    OrdersImportResult,
    list_imports,
    remove_import,
    store_lines,
)
from store.models import DataBatch

# Olist times are Brazilian local time; the UCI retailer is in the UK.
DEFAULT_TIME_ZONES = {
    "olist": "America/Sao_Paulo",
    "uci": "Europe/London",
    "generic": "UTC",
}


class Command(BaseCommand):
    help = (
        "Import order exports as customers, products, orders and items, one batch "
        "per run. Presets: olist (folder or the orders, order_items, payments and "
        "customers files), uci (Online Retail), generic (--map). Re-importing the "
        "same files adds nothing; --list shows imports and --remove-batch deletes one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="*", metavar="PATH", help="CSV files or a folder."
        )
        parser.add_argument("--preset", choices=sorted(DEFAULT_TIME_ZONES))
        parser.add_argument(
            "--map",
            metavar="MAPPING",
            help="generic preset: field=column pairs separated by commas, or a JSON "
            "file. Fields: order_id, created_at, product, quantity, unit_price "
            "(required); customer, email, product_name, total, status (optional).",
        )
        parser.add_argument(
            "--time-zone",
            metavar="ZONE",
            help="IANA zone of dates written without an offset. Default: "
            "America/Sao_Paulo (olist), Europe/London (uci), UTC (generic).",
        )
        parser.add_argument(
            "--id-prefix",
            metavar="PREFIX",
            help="Prefix of the external ids given to orders, customers and "
            "products, keeping datasets apart. Default: '<preset>:'.",
        )
        parser.add_argument(
            "--samples", type=int, default=5, help="Skipped rows to show. Default: 5."
        )
        parser.add_argument("--list", action="store_true", help="List order imports.")
        parser.add_argument(
            "--remove-batch", type=int, metavar="ID", help="Delete an order import."
        )

    def handle(self, *args, **options):
        if options["list"]:
            self._list()
            return
        if options["remove_batch"] is not None:
            self._remove(options["remove_batch"])
            return
        preset = options["preset"]
        if preset is None:
            raise CommandError("Missing --preset: use olist, uci or generic.")
        if not options["paths"]:
            raise CommandError(
                "Give at least one PATH (a CSV file or, for olist, a folder)."
            )
        missing = [name for name in options["paths"] if not Path(name).exists()]
        if missing:
            raise CommandError(f"Path not found: {', '.join(missing)}.")
        time_zone = options["time_zone"] or DEFAULT_TIME_ZONES[preset]
        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(
                f"Invalid --time-zone {time_zone!r}: use an IANA zone such as UTC."
            ) from exc
        if preset == "generic" and not options["map"]:
            raise CommandError(
                "The generic preset needs --map, for example --map order_id=Order,"
                "created_at=Date,product=SKU,quantity=Qty,unit_price=Price."
            )

        result = OrdersImportResult(rejected=RejectedRows(max(options["samples"], 0)))
        prefix = (
            options["id_prefix"] if options["id_prefix"] is not None else f"{preset}:"
        )
        with tqdm(
            total=2,
            desc=f"{preset} import",
            file=self.stdout,
            disable=options["verbosity"] == 0,
        ) as bar:
            try:
                lines, files = self._read(preset, options, time_zone, result.rejected)
                bar.update(1)
                store_lines(
                    lines,
                    files=files,
                    preset=preset,
                    prefix=prefix,
                    parameters={
                        "preset": preset,
                        "time_zone": time_zone,
                        "id_prefix": prefix,
                    },
                    result=result,
                )
                bar.update(1)
            except OrdersFileError as exc:
                raise CommandError(str(exc)) from exc
            except AlreadyImported as exc:
                self.stdout.write(self.style.WARNING(f"Skipped: {exc}"))
                return
        self._report(result)

    def _read(self, preset, options, time_zone, rejected):
        paths = options["paths"]
        if preset == "olist":
            from store.importers.presets import resolve_olist_paths

            files = list(resolve_olist_paths(paths).values())
            return read_olist(paths, time_zone, rejected), files
        files = [Path(path) for path in paths]
        directories = [str(path) for path in files if path.is_dir()]
        if directories:
            raise OrdersFileError(
                f"The {preset} preset reads CSV files, not folders: {', '.join(directories)}."
            )
        if preset == "uci":
            return read_uci(files, time_zone, rejected), files
        mapping = parse_mapping(options["map"])
        return read_generic(files, time_zone, rejected, mapping), files

    def _report(self, result):
        stats = result.stats()
        write = self.stdout.write
        write(self.style.SUCCESS(f"Imported as batch {result.batch.pk}"))
        write(f"  orders:            {stats['orders']:,}")
        write(f"  items:             {stats['items']:,}")
        write(f"  customers created: {stats['customers_created']:,}")
        write(f"  products created:  {stats['products_created']:,}")
        if stats["orders_already_stored"]:
            write(
                f"  orders already stored (skipped): {stats['orders_already_stored']:,}"
            )
        write(f"  rows skipped:      {stats['rows_skipped']:,}")
        for reason, count in sorted(stats["skipped_by_reason"].items()):
            write(f"    {reason}: {count:,}")
        for sample in stats["skipped_samples"]:
            write(f"    {sample['file']} line {sample['line']}: {sample['reason']}")
        write(f"  orders placed (UTC): {stats['first_order']} to {stats['last_order']}")
        write(f"  seconds:           {stats['seconds']}")

    def _list(self):
        imports = list_imports()
        if not imports:
            self.stdout.write("No order imports.")
            return
        for batch, orders in imports:
            self.stdout.write(
                f"{batch.pk:>6}  {batch.created_at:%Y-%m-%d %H:%M}  {orders:>8,} orders  "
                f"{batch.parameters.get('preset', '')}  {batch.label}"
            )

    def _remove(self, batch_id):
        try:
            counts = remove_import(batch_id)
        except DataBatch.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Removed batch {batch_id}: {counts['orders']:,} orders, "
                f"{counts['customers']:,} customers, {counts['products']:,} products."
            )
        )
