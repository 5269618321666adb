from django.apps import AppConfig


def _club_choices():
    from .models import Club

    return [(c.name, c.name) for c in Club.objects.order_by("name")]


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Program and campaigns"

    def ready(self):
        from loyalty.kernel.catalogs import catalog_register, code_field_register

        from .models.earning import RULE_CODE_FIELDS

        # What rules and segments may name (loyalty.kernel.catalogs): the clubs by name,
        # as segment conditions name them; the rule's columns that hold codes.
        catalog_register("club", _club_choices)
        for field_name, kind in RULE_CODE_FIELDS.items():
            code_field_register(f"campaigns.earningrule.{field_name}", kind)
