"""Write the console's roles (loyalty.kernel.roles) as groups with exactly their permissions
(idempotent): run on deploy, after migrate. With --grant, also give a login a role."""

from django.core.management.base import BaseCommand, CommandError

from loyalty.kernel.roles import ROLES, role_grant, roles_apply
from members.models import User
from pos.models import Store


class Command(BaseCommand):
    help = "Create or update the console's roles; optionally grant one to a login."

    def add_arguments(self, parser):
        parser.add_argument("--grant", metavar="EMAIL", help="The login to give a role to.")
        parser.add_argument("--role", choices=list(ROLES), help="The role to give.")
        parser.add_argument(
            "--store", action="append", default=[], metavar="CODE", help="A store (repeatable)."
        )

    def handle(self, *args, grant, role, store, **options):
        for name, count in roles_apply().items():
            self.stdout.write(f"{name}: {count} permissions")
        if not grant:
            return
        if not role:
            raise CommandError("--grant needs --role.")
        user = User.objects.filter(email__iexact=grant).first()
        if user is None:
            raise CommandError(f"No login with the e-mail {grant}.")
        stores = list(Store.objects.filter(code__in=store))
        if len(stores) != len(set(store)):
            raise CommandError(f"Unknown store code among {', '.join(store)}.")
        role_grant(user=user, role=role, stores=stores)
        self.stdout.write(self.style.SUCCESS(f"{user.email} is now {role}."))
