"""The app's models, where Django looks for them: the kernel's (outbox, webhooks) and the
console's (KPI rollups)."""

from loyalty.console.models import *  # noqa: F403
from loyalty.kernel.models import *  # noqa: F403
