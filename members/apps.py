from django.apps import AppConfig
from django.db.backends.signals import connection_created


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and carats"

    def ready(self):
        from .folding import sqlite_functions

        # Plumbing, not business flow: SQLite learns the client search's folding.
        connection_created.connect(sqlite_functions, dispatch_uid="carat_sqlite_functions")
