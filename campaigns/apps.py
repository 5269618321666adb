from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _club_choices():
    from .models import Club

    return [(c.name, c.name) for c in Club.objects.order_by("name")]


def _category_choices():
    from .models import Category

    return [(c.code, f"{c.name} ({c.code})") for c in Category.objects.order_by("position", "code")]


def _sku_choices():
    from .models import Product

    return [(p.sku, f"{p.name} ({p.sku})") for p in Product.objects.only("sku", "name")]


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Program and campaigns")

    def ready(self):
        from .experiments import sqlite_functions

        # Plumbing, not business flow: SQLite learns the experiments' hash.
        connection_created.connect(sqlite_functions, dispatch_uid="carat_sqlite_buckets")

        from anymail.signals import tracking

        from .esp import on_tracking

        tracking.connect(on_tracking, dispatch_uid="carat.delivery")

        from .mail.providers import register

        # The mails' catalog and questionnaire blocks (campaigns.mail.slots).
        register()

        from loyalty.kernel.catalogs import catalog_register, code_field_register

        from .models.earning import RULE_CODE_FIELDS

        # What rules and segments may name (loyalty.kernel.catalogs): the clubs by name,
        # as segment conditions name them; the rule's columns that hold codes.
        catalog_register("club", _club_choices)
        # The product catalog (campaigns.models.catalog): what rules name by category or
        # SKU, and the SKU of a reward or a rental, are picked from it.
        catalog_register("category", _category_choices)
        catalog_register("sku", _sku_choices)
        for field_name, kind in RULE_CODE_FIELDS.items():
            code_field_register(f"campaigns.earningrule.{field_name}", kind)
        # A free product's or a rented piece's SKU: picked from the catalog.
        code_field_register("campaigns.reward.sku", "sku")
        code_field_register("campaigns.rental.sku", "sku")
        # Where a giveaway was hosted ("Instagram"): words, no catalog of its own.
        code_field_register("campaigns.giveaway.channel", "social_channel")
        # A member's country (ISO 3166): a standard list, not a table of the program.
        code_field_register("members.member.country", "country")
