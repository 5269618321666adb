"""Saving the profile untouched keeps its dates, in every language (the date inputs once
showed the locale's format, which a date picker cannot show, and posted them empty)."""

from datetime import date

import pytest
from django.test import Client

from loyalty.console.dashboard import DashboardForm
from members.models import User
from tests.browser import PHONE

pytestmark = pytest.mark.django_db(transaction=True)

BIRTH = date(1990, 12, 31)
WEDDING = date(2015, 6, 20)


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_saving_the_profile_untouched_keeps_the_dates(live_server, page_factory, enroll, language):
    member = enroll(first_name="Mira", last_name="Claes", language=language)
    member.birth_date, member.wedding_anniversary = BIRTH, WEDDING
    member.save(update_fields=["birth_date", "wedding_anniversary"])
    user = User.objects.create_user(email=member.email, password="sparkle-2026!")
    member.user = user
    member.save(update_fields=["user"])
    client = Client()
    client.force_login(user)

    page = page_factory(PHONE)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": language, "url": live_server.url},
        ]
    )
    page.goto(f"{live_server.url}/account/profile/")
    assert page.locator("html").get_attribute("lang").startswith(language)
    assert page.input_value("#id_birth_date") == "1990-12-31"
    assert page.input_value("#id_wedding_anniversary") == "2015-06-20"
    page.click("form button[type=submit]")
    page.wait_for_load_state()

    member.refresh_from_db()
    assert member.birth_date == BIRTH
    assert member.wedding_anniversary == WEDDING


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_console_date_fields_render_iso_dates_in_every_language(language):
    from django.utils import translation

    with translation.override(language):
        html = str(
            DashboardForm(initial={"start": date(2026, 1, 31)}, today=date(2026, 2, 1))["start"]
        )
    assert 'value="2026-01-31"' in html
