"""The dashboard's period and filters: presets, the form, who may see it."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext

from loyalty.console.kpis import Filters, Period
from loyalty.kernel.widgets import IsoDateInput
from pos.models import Channel, Store
from tiers.models import Tier

CACHE_SECONDS = 10 * 60
NONE = "\u2013"  # an en dash: no value (not enough data yet)
REQUIRED_PERMISSIONS = ("members.view_member", "pos.view_purchase")
MAX_DAYS = 3 * 366
EARLIEST = date(2000, 1, 1)  # a custom period starts on or after this day

PRESETS = [
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("12m", "Last 12 months"),
    ("month", "This month"),
    ("year", "This year"),
    ("custom", "Custom dates"),
]


def can_view_dashboard(user) -> bool:
    return user.is_active and user.is_staff and user.has_perms(REQUIRED_PERMISSIONS)


def preset_period(preset: str, today: date) -> Period:
    if preset == "90d":
        return Period(today - timedelta(days=89), today)
    if preset == "12m":
        return Period(today - timedelta(days=364), today)
    if preset == "month":
        return Period(today.replace(day=1), today)
    if preset == "year":
        return Period(today.replace(month=1, day=1), today)
    return Period(today - timedelta(days=29), today)


class DashboardForm(forms.Form):
    period = forms.ChoiceField(choices=PRESETS, required=False)
    start = forms.DateField(required=False, widget=IsoDateInput)
    end = forms.DateField(required=False, widget=IsoDateInput)
    store = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False, choices=[("", "All channels"), *Channel.choices])
    tier = forms.ChoiceField(required=False)

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.stores = {s.code: s for s in Store.objects.order_by("name")}
        self.tiers = {t.code: t for t in Tier.objects.order_by("rank")}
        self.fields["store"].choices = [("", "All stores")] + [
            (s.code, s.name) for s in self.stores.values()
        ]
        self.fields["tier"].choices = [("", "All tiers")] + [
            (t.code, t.name) for t in self.tiers.values()
        ]

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("Custom dates need a start and an end.")
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError("Choose at most three years.")
            latest = self.today + timedelta(days=366)
            if start < EARLIEST or end > latest:
                # Far dates would overflow the date arithmetic (year 1, 9999): refused.
                raise forms.ValidationError(
                    gettext("Choose dates from %(earliest)s to %(latest)s.")
                    % {"earliest": date_format(EARLIEST), "latest": date_format(latest)}
                )
        return data

    def selection(self) -> tuple[Period, Filters, dict]:
        """The period, the filters and the labels to show (defaults if the form is
        invalid: the last 30 days, everything)."""
        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("period") or "30d"
        if preset == "custom" and data.get("start"):
            period = Period(data["start"], data["end"])
        else:
            period = preset_period(preset, self.today)
        store = self.stores.get(data.get("store") or "")
        tier = self.tiers.get(data.get("tier") or "")
        channel = data.get("channel") or ""
        filters = Filters(
            store_id=store.pk if store else None,
            channel=channel,
            tier_id=tier.pk if tier else None,
        )
        labels = {
            "store": store.name if store else "",
            "channel": dict(Channel.choices).get(channel, ""),
            "tier": tier.name if tier else "",
        }
        return period, filters, labels
