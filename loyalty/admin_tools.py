"""Admin helpers for tables of millions of rows."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's planner estimate for an unfiltered big table instead of COUNT(*),
    which would scan every row on each page view."""

    threshold = 100_000

    @cached_property
    def count(self):
        qs = self.object_list
        if connection.vendor == "postgresql" and not qs.query.where:
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [qs.model._meta.db_table],
                )
                row = cur.fetchone()
            if row and row[0] > self.threshold:
                return int(row[0])
        return super().count


class ReadOnlyInline:
    """Mixin for inlines that show history and must never change it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and logs: shown in the console, changed only by the services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
