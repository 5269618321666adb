"""Cap periods in the program's time zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def period_start(period: str, at: datetime) -> datetime | None:
    """Start of the day/week/month/year containing `at` (program time zone); None = ever."""
    local = at.astimezone(ZoneInfo(settings.TIME_ZONE))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    if period == "year":
        return midnight.replace(month=1, day=1)
    return None
