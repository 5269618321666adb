from django.core.management.base import BaseCommand, CommandError

from loyalty.kernel.errors import DomainError
from pos.models import ApiKey
from pos.selectors import store_by_code
from pos.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--store", help="Store code: the key may only record sales there.")
        parser.add_argument(
            "--scope",
            choices=ApiKey.Scope.values,
            help="till (its store's sales, returns, lookups, vouchers; needs --store), "
            "integration (members, events, sales of any channel) or read_only (reads only). "
            "Default: till with --store, integration without.",
        )

    def handle(self, *args, name, store=None, scope=None, **options):
        try:
            store_obj = store_by_code(store) if store else None
            _key, plain = api_key_create(name=name, store=store_obj, scope=scope)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(plain)
