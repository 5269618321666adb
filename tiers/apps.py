from django.apps import AppConfig


def _tier_choices():
    from .models import Tier

    return [(t.code, t.name) for t in Tier.objects.order_by("rank")]


class TiersConfig(AppConfig):
    name = "tiers"
    verbose_name = "Tiers"

    def ready(self):
        from loyalty.kernel.catalogs import catalog_register

        catalog_register("tier", _tier_choices)  # loyalty.kernel.catalogs
