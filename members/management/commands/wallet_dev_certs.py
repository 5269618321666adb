from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from members.wallet.devcerts import write_dev_certs


class Command(BaseCommand):
    help = (
        "Development only: make a CA and a pass signing certificate where the settings "
        "expect them (CARAT_WALLET_CERT, _KEY, _WWDR_CERT), unless they exist. Phones do "
        "not accept passes signed with them."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Development only: production uses the brand's certificates.")
        cert = Path(settings.CARAT_WALLET_CERT)
        if cert.is_file():
            self.stdout.write(f"Wallet certificates present ({cert.parent}).")
            return
        paths = write_dev_certs(cert.parent, pass_type_id=settings.CARAT_WALLET_PASS_TYPE_ID)
        self.stdout.write(f"Development wallet certificates written to {paths['ca'].parent}.")
