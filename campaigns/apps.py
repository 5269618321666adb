from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Program and campaigns"

    def ready(self):
        from anymail.signals import tracking

        from .esp import on_tracking

        tracking.connect(on_tracking, dispatch_uid="carat.delivery")
