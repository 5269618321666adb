import argparse
from datetime import date

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from loyalty.kernel.errors import DomainError
from pos.imports import history_import


class _Formatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class Command(BaseCommand):
    help = """Import historical orders (the retroactive launch import) from an ERP / web shop
export: create or match the members, record the purchases, award retroactive carats once
per order, recompute the tiers as of the launch date. One transaction; PostgreSQL only.

CSV: UTF-8, comma-separated, a header row (any column order, other columns ignored):
  order_id     required, at most 64 characters; with the store, the idempotency key
  email        matched case-insensitively; needed to create a new member
  phone        matched ignoring spaces/dots/dashes (only if one member has it)
  external_id  the ERP's customer id (matched first)
  occurred_at  2024-05-31 (= noon in the store's zone) or 2024-05-31T15:04[:05][+02:00]
  store        store code; empty = online (the program's time zone)
  amount       positive, dot decimal, at most 2 decimals: 1299.00
  currency     EUR or a currency with an exchange rate valid at the order date
At least one of email / phone / external_id per row. Bad rows are rejected with their
line number and reason; the others are imported. Orders already imported are skipped."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Do everything, report, then roll back: nothing is written.",
        )
        parser.add_argument(
            "--launch-date",
            type=date.fromisoformat,
            help="YYYY-MM-DD: tiers are computed as of the start of this day in the "
            "program's time zone (default: now).",
        )
        parser.add_argument(
            "--show-rejected",
            type=int,
            default=20,
            metavar="N",
            help="Print the first N rejected rows with their reasons (default 20).",
        )

    def handle(self, *args, file, dry_run, launch_date, show_rejected, verbosity, **options):
        try:
            report = history_import(path_or_file=file, dry_run=dry_run, launch=launch_date)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for line in report.summary_lines(max_rejections=show_rejected):
            self.stdout.write(line)
        if verbosity >= 2:
            self.stdout.write(
                "timings (s): " + ", ".join(f"{k} {v}" for k, v in report.timings.items())
            )
