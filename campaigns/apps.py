from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Program and campaigns"

    def ready(self):
        from .experiments import sqlite_functions

        # Plumbing, not business flow: SQLite learns the experiments' hash.
        connection_created.connect(sqlite_functions, dispatch_uid="carat_sqlite_buckets")

        from anymail.signals import tracking

        from .esp import on_tracking

        tracking.connect(on_tracking, dispatch_uid="carat.delivery")
