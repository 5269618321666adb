from django.apps import AppConfig


def _store_choices():
    from .models import Store

    return [(s.code, f"{s.name} ({s.code})") for s in Store.objects.order_by("name")]


def _channel_choices():
    from .models import Channel

    return list(Channel.choices)


class PosConfig(AppConfig):
    name = "pos"
    verbose_name = "Sales channels"

    def ready(self):
        from loyalty.kernel.catalogs import catalog_register

        # What rules and segments may name (loyalty.kernel.catalogs).
        catalog_register("store", _store_choices)
        catalog_register("channel", _channel_choices)
