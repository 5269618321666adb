"""Rebuild the dashboard's rollups now (the beat job does it every hour)."""

import json

from django.core.management.base import BaseCommand

from loyalty.console.rollup_delta import kpi_rollup_refresh


class Command(BaseCommand):
    help = "Rebuild the KPI rollups the console's dashboard reads (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Recompute only the members touched since the last run (the hourly job); "
            "without it, a full rebuild (the nightly job).",
        )

    def handle(self, *args, **options):
        run = kpi_rollup_refresh(full=not options["incremental"])
        if options["json"]:
            data = None if run is None else {"seconds": float(run.seconds), "rows": run.rows}
            self.stdout.write(json.dumps(data))
        elif run is None:
            self.stdout.write("No rollups on this database: the dashboard computes live.")
        else:
            self.stdout.write(
                f"KPI rollups as of {run.as_of:%Y-%m-%d %H:%M:%S} in {run.seconds} s."
            )
