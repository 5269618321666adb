from django.core.management.base import BaseCommand, CommandError

from members.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Check balance == sum(ledger) for every member; exit non-zero on any mismatch."

    def handle(self, *args, **options):
        bad = list(ledger_mismatches()[:100])
        if bad:
            for row in bad:
                self.stderr.write(
                    f"{row['member_number']}: balance {row['balance']} != ledger {row['ledger_sum']}"
                )
            raise CommandError(f"{len(bad)} member(s) with a wrong balance (first 100 shown).")
        self.stdout.write("OK: every balance equals the sum of its ledger.")
