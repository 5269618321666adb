"""A visitor joins, confirms the e-mail, logs in and sees a QR code that a till can use —
in the real Chromium."""

import io
import json
import re
import urllib.error
import urllib.request

import pytest
from django.core import mail
from PIL import Image

from pos.services import api_key_create
from tests.browser import PHONE, TABLET, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def decode_qr(png: bytes) -> str:
    import zxingcpp

    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert results, "no QR code found in the screenshot"
    return results[0].text


def lookup(base_url: str, key: str, code: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/members/lookup/?code={urllib.parse.quote(code)}",
        headers={"Authorization": f"Api-Key {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_visitor_joins_and_the_qr_code_finds_the_member(live_server, page_factory, program):
    page = page_factory(PHONE)
    page.goto(f"{live_server.url}/account/join/")
    page.fill("#id_first_name", "Zoé")
    page.fill("#id_last_name", "Peeters")
    page.fill("#id_email", "zoe@example.com")
    page.fill("#id_password", "sparkle-2026!")
    assert not page.is_checked("#id_email_opt_in")
    assert not page.is_checked("#id_sms_opt_in")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")

    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    page.goto(live_server.url + re.sub(r"^https?://[^/]+", "", link))
    page.wait_for_selector("#member-qr")
    page.wait_for_function("() => document.querySelector('#member-qr').naturalWidth > 0")
    assert "Welcome to the club" in page.content()
    screenshot(page, "account-phone")

    _key, api_key = api_key_create(name="web shop")
    payload = decode_qr(page.locator("#member-qr").screenshot())
    assert payload.startswith("CARAT1:")
    status, body = lookup(live_server.url, api_key, payload)
    assert status == 200
    assert body["first_name"] == "Zoé"
    number = page.inner_text("#member-number").replace(" ", "")
    assert body["number"] == number

    # a new QR code: the old payload stops working at once
    page.click("#rotate-qr")
    page.wait_for_selector("text=The old one no longer works")
    page.wait_for_function("() => document.querySelector('#member-qr').naturalWidth > 0")
    new_payload = decode_qr(page.locator("#member-qr").screenshot())
    assert new_payload != payload
    assert lookup(live_server.url, api_key, payload)[0] == 404
    assert lookup(live_server.url, api_key, new_payload)[0] == 200

    # log out and in again
    page.click("text=Log out")
    page.goto(f"{live_server.url}/account/login/")
    page.fill("#id_username", "zoe@example.com")
    page.fill("#id_password", "sparkle-2026!")
    page.click("button[type=submit]")
    page.wait_for_selector("#member-qr")
    page.set_viewport_size(TABLET)
    screenshot(page, "account-tablet")
    page.goto(f"{live_server.url}/account/profile/")
    screenshot(page, "profile-phone")


def test_a_stranger_joining_with_a_members_address_cannot_open_it(
    live_server, page_factory, program
):
    """A member registered at the till; a stranger joins on the web with that address and
    a password of theirs. The owner's mail lets the owner, not the stranger, in."""
    from campaigns.services import member_enroll

    member_enroll(email="tia@example.com", first_name="Tia", last_name="Maes", source="store")
    stranger = page_factory(PHONE)
    stranger.goto(f"{live_server.url}/account/join/")
    stranger.fill("#id_first_name", "Mallory")
    stranger.fill("#id_last_name", "Stranger")
    stranger.fill("#id_email", "tia@example.com")
    stranger.fill("#id_password", "stranger-pass-2026")
    stranger.click("button[type=submit]")
    stranger.wait_for_selector("text=Check your inbox")  # as for any address

    owner = page_factory(PHONE)
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    owner.goto(live_server.url + re.sub(r"^https?://[^/]+", "", link))
    owner.wait_for_selector("#id_new_password1")
    screenshot(owner, "account-claim-phone")
    owner.fill("#id_new_password1", "owners-own-pass-77")
    owner.fill("#id_new_password2", "owners-own-pass-77")
    owner.click("button[type=submit]")
    owner.wait_for_selector("#member-qr")
    assert "Tia" in owner.content()

    stranger.goto(f"{live_server.url}/account/login/")
    stranger.fill("#id_username", "tia@example.com")
    stranger.fill("#id_password", "stranger-pass-2026")
    stranger.click("button[type=submit]")
    stranger.wait_for_selector("#id_username")
    assert "/account/login/" in stranger.url
