"""Recurring windows of a campaign, inside its start and end: every weekend, the first
Monday of each month, Valentine's week each year.

A small, bounded definition (no calendar language): one of
- weekly: a set of weekdays (0 = Monday ... 6 = Sunday);
- monthly: the n-th (1-4, or 5 = the last) of the chosen weekdays of each month;
- yearly: a range of days of the year (month and day, inclusive; it may wrap over the
  new year, e.g. 20 December to 6 January).

Decided on the sale's time in the program's time zone (settings.TIME_ZONE, as the cap
periods), in Python on the cached rules (campaigns.services.earning.active_earning_rules):
the sale's only decision path, so the till, the API, the import and the console's
simulator decide the same."""

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

NONE, WEEKLY, MONTHLY, YEARLY = "", "weekly", "monthly", "yearly"
LAST = 5


def weekday_set(value: str) -> set[int]:
    out = set()
    for item in (value or "").split(","):
        item = item.strip()
        if item.isdigit() and int(item) <= 6:
            out.add(int(item))
    return out


def recurs_at(
    *,
    repeat: str,
    weekdays: str,
    month_week: int | None,
    yearly_from: date | None,
    yearly_until: date | None,
    at: datetime,
) -> bool:
    """Whether `at` falls in the recurring window (always True without one)."""
    if not repeat:
        return True
    local = at.astimezone(ZoneInfo(settings.TIME_ZONE))
    if repeat == WEEKLY:
        return local.weekday() in weekday_set(weekdays)
    if repeat == MONTHLY:
        if local.weekday() not in weekday_set(weekdays) or not month_week:
            return False
        if month_week == LAST:
            return local.day + 7 > calendar.monthrange(local.year, local.month)[1]
        return (local.day - 1) // 7 + 1 == month_week
    if repeat == YEARLY:
        if yearly_from is None or yearly_until is None:
            return False
        day = (local.month, local.day)
        start = (yearly_from.month, yearly_from.day)
        end = (yearly_until.month, yearly_until.day)
        if start <= end:
            return start <= day <= end
        return day >= start or day <= end  # over the new year
    return False
