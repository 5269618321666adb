"""Every date field of every form (member pages, POS, console) reads back the date it
shows, in English, Dutch and French: what the widget writes into the page, posted back
unchanged, is the same date. A date picker (`<input type=date>`) must be written as
YYYY-MM-DD whatever the language, or it shows an empty field and posts it empty. The
browser tests (test_profile_dates_browser, test_date_fields_browser) save real pages."""

from datetime import date, datetime

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory
from django.urls import get_resolver
from django.utils import timezone, translation

from members.models import User

PROJECT = ("members", "campaigns", "pos", "tiers", "loyalty")
DAY = date(1990, 12, 31)
MOMENT = datetime(2026, 10, 25, 14, 30)


def _project_forms():
    assert get_resolver().url_patterns  # every view, and so every form, is imported
    seen, todo = set(), [forms.BaseForm]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return sorted(
        (f for f in seen if f.__module__.split(".")[0] in PROJECT),
        key=lambda f: f"{f.__module__}.{f.__qualname__}",
    )


def _admin_forms():
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return [
        (f"admin:{model._meta.label}", model_admin.get_form(request))
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT
    ]


def _date_fields(form_class):
    for name, field in form_class.base_fields.items():
        if isinstance(field, forms.DateField | forms.SplitDateTimeField):
            yield name, field


def _round_trip(field):
    if isinstance(field, forms.SplitDateTimeField):
        moment = timezone.make_aware(MOMENT)
        day_widget, time_widget = field.widget.widgets
        local = timezone.localtime(moment)
        shown = [day_widget.format_value(local.date()), time_widget.format_value(local.time())]
        return shown, field.clean(shown) == moment
    shown = field.widget.format_value(DAY)
    if getattr(field.widget, "input_type", "") == "date":
        assert shown == DAY.isoformat(), f"a date picker shows {shown!r}"
    return shown, field.clean(shown) == DAY


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_every_date_field_reads_back_the_date_it_shows(language):
    classes = [(f"{f.__module__}.{f.__qualname__}", f) for f in _project_forms()]
    classes += _admin_forms()
    checked, lost = [], []
    with translation.override(language):
        for label, form_class in classes:
            for name, field in _date_fields(form_class):
                shown, same = _round_trip(field)
                checked.append(f"{label}.{name}")
                if not same:
                    lost.append(f"{label}.{name} shows {shown!r}")
    assert not lost, lost
    # The fields the client's dates live in are among those checked.
    for expected in (
        "members.forms.ProfileForm.birth_date",
        "members.forms.ProfileForm.wedding_anniversary",
        "pos.clienteling.forms.ProfileForm.partner_birthday",
        "pos.clienteling.forms.NoteForm.follow_up_on",
        "pos.clienteling.forms.AppointmentForm.day",
        "admin:members.Member.birth_date",
        "admin:members.Member.wedding_anniversary",
        "admin:members.Member.joined_at",
    ):
        assert expected in checked, (expected, checked)
