"""Django's admin autodiscovery imports this module (the last app: the console composes
every app's admin): the console's admin site and its webhook pages."""

from loyalty.console import admin, admin_predictions, admin_webhooks  # noqa: F401
