"""Admin helpers for tables of millions of rows."""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from .translated import missing_languages


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


class SuperuserDeleteOnly:
    """Mixin: rows that keep the program correct are deleted by a superuser only, whatever
    a login's permissions say (the delete page, the "delete selected" action and the
    deletion of a parent that would cascade to them all ask this)."""

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def superuser_delete_only(site, labels) -> None:
    """Put SuperuserDeleteOnly in front of the registered admin of each model ("app.model")."""
    from django.apps import apps

    for label in labels:
        model = apps.get_model(label)
        if not site.is_registered(model):
            continue
        current = type(site.get_model_admin(model))
        if issubclass(current, SuperuserDeleteOnly):
            continue
        site.unregister(model)
        site.register(model, type(current.__name__, (SuperuserDeleteOnly, current), {}))


class TranslatedContentAdmin(admin.ModelAdmin):
    """Program content members read: after a save, a warning names the languages some
    filled-in text lacks (members reading them see the English text meanwhile).
    `translated` lists the source fields; their `_nl`/`_fr` columns sit beside them."""

    translated: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        missing = missing_languages(obj, self.translated)
        if missing:
            self.message_user(
                request,
                _("“%(obj)s” has no text in %(languages)s yet: members reading them see English.")
                % {"obj": obj, "languages": ", ".join(missing)},
                messages.WARNING,
            )
