"""The POS scan page in the real Chromium: log in, scan, sell in GBP, return, register."""

import re
from contextlib import contextmanager

import pytest
from django.utils import timezone

from campaigns.services import member_enroll
from pos.models import Purchase, Return
from tests.browser import PHONE, TABLET, screenshot
from tests.factories import StoreFactory, UserFactory, make_program, make_rate
from tiers.models import Tier
from tiers.services import tier_invite

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"
DEMO_COLORS = {  # as in loaddemo
    "radiant": "#c9a96e",
    "marquise": "#8e6fb5",
    "emerald": "#2e8b57",
    "ambassador": "#1d1d1f",
}


@pytest.fixture
def shop():
    """A London store selling in GBP, its shop assistant, and a member."""
    make_program()
    for code, color in DEMO_COLORS.items():
        Tier.objects.filter(code=code).update(color=color)
    make_rate("GBP", "1.17")
    london = StoreFactory(
        code="london",
        name="Carat London",
        city="London",
        currency="GBP",
        time_zone="Europe/London",
    )
    assistant = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    london.staff.add(assistant)
    today = timezone.localdate()
    member = member_enroll(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        birth_date=today.replace(year=1990, day=min(today.day, 28)),
    )
    return {"store": london, "assistant": assistant, "member": member}


def login(page, base_url, email="sam@carat.example", *, shot=None):
    page.goto(f"{base_url}/pos/")
    assert "/pos/login/" in page.url
    assert focused_id(page) == "id_username"
    if shot:
        screenshot(page, shot)
        assert_nothing_cut_off(page)
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/pos/$"))


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def assert_nothing_cut_off(page):
    """No horizontal scrolling and no element wider than the viewport."""
    overflow = page.evaluate(
        """() => {
          const w = document.documentElement.clientWidth;
          const wide = [...document.querySelectorAll('body *')].filter(el => {
            const r = el.getBoundingClientRect();
            return r.width > 0 && (r.right > w + 1 || r.left < -1) &&
                   getComputedStyle(el).position !== 'absolute';
          }).map(el => el.tagName + '#' + el.id + '.' + el.className);
          return {scroll: document.documentElement.scrollWidth - w, wide};
        }"""
    )
    assert overflow["scroll"] <= 0, overflow
    assert overflow["wide"] == [], overflow


@pytest.mark.parametrize(("size", "viewport"), [("tablet", TABLET), ("phone", PHONE)])
def test_assistant_scans_sells_in_gbp_and_takes_a_return(
    live_server, page_factory, shop, size, viewport
):
    member = shop["member"]
    page = page_factory(viewport)
    login(page, live_server.url, shot=f"pos-{size}-login")

    # The scan field has focus: a handheld scanner types the code, then Enter.
    assert focused_id(page) == "id_code"
    assert page.locator("#store-name").inner_text() == "Carat London"
    assert page.locator("#camera-start").is_visible()  # localhost is a secure context
    screenshot(page, f"pos-{size}-scan")
    assert_nothing_cut_off(page)
    page.keyboard.type(member.member_number)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/pos/m/{member.member_number}/$"))

    assert page.locator("#member-name").inner_text() == "Ada Lovelace"
    assert page.locator("#tier").inner_text().lower() == "radiant"
    assert page.locator("#discount").inner_text() == "5%"
    assert page.locator("#balance").inner_text() == "0"
    assert page.locator("#birthday").is_visible()
    assert page.locator("#id_currency").input_value() == "GBP"
    assert focused_id(page) == "id_amount"  # scanned: the cursor waits for the amount
    screenshot(page, f"pos-{size}-member")
    assert_nothing_cut_off(page)

    # A sale of 100.00 GBP: 117.00 EUR, 117 carats; with one item line.
    page.fill("#id_amount", "100.00")
    page.fill("#id_receipt_id", "L-1001")
    page.get_by_text("Item lines").click()
    page.fill("#id_line_0_sku", "RING-0042")
    page.fill("#id_line_0_category", "rings")
    page.fill("#id_line_0_amount", "100.00")
    screenshot(page, f"pos-{size}-sale-form")
    assert_nothing_cut_off(page)
    page.click("#record-sale")
    page.wait_for_selector("#result")
    assert page.locator("#result-carats").inner_text() == "+117"
    assert page.locator("#result-balance").inner_text() == "117"
    assert page.locator("#balance").inner_text() == "117"
    assert "100.00 GBP" in page.locator("#result").inner_text()
    screenshot(page, f"pos-{size}-sale")
    assert_nothing_cut_off(page)

    # A refresh of the result page records nothing.
    page.reload()
    assert Purchase.objects.count() == 1

    # A return of half the sale takes back floor(117 x 50/100) = 58 carats.
    page.click("#return-title")
    page.fill("#return-form #id_receipt_id", "L-1001")
    page.fill("#id_return_id", "RET-1")
    page.fill("#return-form #id_amount", "50.00")
    screenshot(page, f"pos-{size}-return-form")
    assert_nothing_cut_off(page)
    page.click("#record-return")
    page.wait_for_selector("#result-reversed")
    assert page.locator("#result-reversed").inner_text() == "\u221258"
    assert page.locator("#result-balance").inner_text() == "59"
    assert "carats reversed" in page.locator("#result").inner_text()
    screenshot(page, f"pos-{size}-return")
    assert_nothing_cut_off(page)
    assert Return.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 59


def test_errors_are_shown_on_the_page_and_focus_the_field(live_server, page_factory, shop):
    member = shop["member"]
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp", currency="EUR")
    antwerp.staff.add(shop["assistant"])
    page = page_factory(PHONE)
    login(page, live_server.url)

    # Two stores: the switcher (the first store by code until another is chosen).
    assert page.locator("#store-select").input_value() == "antwerp"
    page.select_option("#store-select", "london")
    page.click("#store-switch")
    page.wait_for_url(re.compile(r"/pos/$"))
    assert page.locator("#store-select").input_value() == "london"
    assert focused_id(page) == "id_code"

    # An unknown code.
    page.keyboard.type("1234567890")
    page.keyboard.press("Enter")
    assert "not valid" in page.locator("#scan-form [role=alert]").inner_text()
    assert focused_id(page) == "id_code"

    # Scanning the QR payload (what the camera and the handheld scanner read).
    page.fill("#id_code", member.qr_payload)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/pos/m/{member.member_number}/$"))

    # A bad amount: the message, the field focused, nothing recorded.
    page.fill("#id_amount", "12.345")
    page.fill("#id_receipt_id", "L-2")
    page.click("#record-sale")
    alert = page.locator("#sale-form [role=alert]")
    alert.wait_for()
    assert "at most 2 decimals" in page.locator("#sale-form").inner_text()
    assert focused_id(page) == "id_amount"
    assert Purchase.objects.count() == 0
    assert page.locator("#id_currency").input_value() == "GBP"
    screenshot(page, "pos-phone-error")
    assert_nothing_cut_off(page)


def test_register_a_member_at_the_counter(live_server, page_factory, shop):
    page = page_factory(TABLET)
    login(page, live_server.url)
    page.click("#register-title")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_first_name", "Grace")
    page.fill("#id_last_name", "Hopper")
    page.click("#register")
    page.wait_for_selector("#result")
    assert "Welcome to the club, Grace!" in page.locator("#result").inner_text()
    assert page.locator("#member-name").inner_text() == "Grace Hopper"
    assert page.locator("#discount").inner_text() == "5%"
    screenshot(page, "pos-tablet-registered")
    assert_nothing_cut_off(page)

    # The first sale of the new member reaches Marquise at once.
    page.fill("#id_amount", "500")
    page.fill("#id_receipt_id", "L-7")
    page.click("#record-sale")
    page.wait_for_selector("#upgrade")
    assert page.locator("#upgrade").inner_text() == "Upgraded to Marquise!"
    assert page.locator("#tier").inner_text().lower() == "marquise"
    assert page.locator("#discount").inner_text() == "10%"
    screenshot(page, "pos-tablet-upgrade")

    # Sent twice (e.g. the assistant pressed back and submitted again): recorded once.
    page.go_back()
    page.fill("#id_amount", "500")
    page.fill("#id_receipt_id", "L-7")
    page.click("#record-sale")
    page.wait_for_selector("#already")
    assert "Already recorded" in page.locator("#already").inner_text()
    assert page.locator("#result-carats").inner_text() == "+585"
    assert Purchase.objects.filter(receipt_id="L-7").count() == 1


def test_the_till_shows_a_hidden_tier_to_its_member(live_server, page_factory, shop):
    member = shop["member"]
    tier_invite(
        member=member,
        tier=Tier.objects.get(code="ambassador"),
        actor=shop["assistant"],
        note="creator",
    )
    page = page_factory(PHONE)
    login(page, live_server.url)
    page.fill("#id_code", member.qr_payload)
    page.keyboard.press("Enter")
    page.wait_for_selector("#member-name")
    assert page.locator("#tier").inner_text().lower() == "ambassador"
    assert page.locator("#discount").inner_text() == "20%"
    colors = page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('.discount-box'));"
        " return [s.backgroundColor, s.color]; })()"
    )
    assert colors == ["rgb(29, 29, 31)", "rgb(255, 255, 255)"]
    screenshot(page, "pos-phone-ambassador")
    assert_nothing_cut_off(page)


def test_a_login_that_is_not_shop_staff_sees_a_clear_403(live_server, page_factory, shop):
    UserFactory(email="mira@example.com")
    page = page_factory(PHONE)
    login(page, live_server.url, "mira@example.com")
    assert "not a shop assistant" in page.locator("[role=alert]").inner_text()
    screenshot(page, "pos-phone-403")
    assert_nothing_cut_off(page)


def _camera_video(payload: str | None, path) -> None:
    """A Y4M clip for Chromium's fake camera: the payload's QR code, or a blank card."""
    import qrcode
    from PIL import Image

    width, height = 640, 480
    frame = Image.new("L", (width, height), 235)
    if payload:
        code = qrcode.make(payload, border=4).get_image().convert("L").resize((400, 400))
        frame.paste(code, ((width - 400) // 2, (height - 400) // 2))
    y, u, v = frame.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    data = y.tobytes() + u.resize(half).tobytes() + v.resize(half).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(3):
            f.write(b"FRAME\n" + data)


@contextmanager
def camera_page(chromium, video, viewport):
    """A page in a Chromium whose (fake) camera plays `video`, camera access granted."""
    from tests.browser import ARGS, CHROMIUM

    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = browser.new_context(viewport=viewport, permissions=["camera"])
        context.set_default_timeout(15_000)
        yield context.new_page()
    finally:
        browser.close()


def test_the_camera_button_scans_the_members_qr_code(live_server, chromium, shop, tmp_path):
    """html5-qrcode reads the QR code from the camera, fills the scan field, submits."""
    member = shop["member"]
    video = tmp_path / "qr.y4m"
    _camera_video(member.qr_payload, video)
    with camera_page(chromium, video, TABLET) as page:
        login(page, live_server.url)
        page.click("#camera-start")
        # The whole test takes 8-9 s alone (browser, login, fake camera, JavaScript decode);
        # under a full suite on 2 cores the scan once took over 15 s: wait for the scan.
        page.wait_for_url(re.compile(rf"/pos/m/{member.member_number}/$"), timeout=60_000)
        assert page.locator("#member-name").inner_text() == "Ada Lovelace"
        assert page.locator("#camera-panel").is_hidden()


def test_the_camera_can_be_stopped(live_server, chromium, shop, tmp_path):
    video = tmp_path / "blank.y4m"
    _camera_video(None, video)
    with camera_page(chromium, video, PHONE) as page:
        login(page, live_server.url)
        page.click("#camera-start")
        page.wait_for_selector("#camera-reader video")
        assert page.locator("#camera-panel").is_visible()
        page.wait_for_timeout(500)  # a frame or two on screen
        screenshot(page, "pos-phone-camera")
        assert_nothing_cut_off(page)
        page.click("#camera-stop")
        page.wait_for_selector("#camera-panel", state="hidden")
        assert focused_id(page) == "id_code"
        assert page.url.endswith("/pos/")
