from django.core.management.base import BaseCommand, CommandError

from loyalty.kernel.errors import DomainError
from pos.selectors import store_by_code
from pos.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--store", help="Store code: the key may only record sales there.")

    def handle(self, *args, name, store=None, **options):
        try:
            store_obj = store_by_code(store) if store else None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        _key, plain = api_key_create(name=name, store=store_obj)
        self.stdout.write(plain)
