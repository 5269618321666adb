from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "CRM console"

    def ready(self):
        # Webhook pages live in their own module beside the console's admin.
        from . import admin_webhooks  # noqa: F401
