"""The dashboard in the real Chromium, as marketing uses it: log in, land on the
dashboard, change the period and a filter, see the charts drawn."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.services import member_enroll
from loyalty.kernel.roles import MARKETING, role_grant, roles_apply
from members.models import User
from pos.services import purchase_record, return_record
from tests.browser import screenshot
from tests.factories import StoreFactory, make_program, make_rate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-1"
DESKTOP = {"width": 1366, "height": 900}

CANVASES_DRAWN = """() => {
  const canvases = [...document.querySelectorAll('canvas[data-chart]')];
  return canvases.length > 0 && canvases.every(c => {
    if (c.dataset.ready !== '1' || !c.width || !c.height) return false;
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
    return false;
  });
}"""


@pytest.fixture(autouse=True)
def fresh_dashboard_cache():
    """The console keeps a computed dashboard for a few minutes; tests start without."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def console():
    """Two stores, a handful of members and sales over the last four months."""
    tiers = make_program()
    make_rate("GBP", "1.17")
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp")
    london = StoreFactory(code="london", name="Carat London", city="London", currency="GBP")
    user = User.objects.create_user(email="marketing@carat.example", password=PASSWORD)
    roles_apply()
    role_grant(user=user, role=MARKETING)
    now = timezone.now()
    for i in range(8):
        joined = now - timedelta(days=110 - i * 13)
        m = member_enroll(
            email=f"client{i}@example.com", first_name=f"Client {i}", joined_at=joined
        )
        for j, (days, store, amount) in enumerate(
            [
                (100 - i * 12, antwerp, "350.00"),
                (40 - i * 4, london, "220.00"),
                (3 + i, None, "90.00"),
            ]
        ):
            if days < 0 or now - timedelta(days=days) < joined:
                continue
            purchase_record(
                member=m,
                channel="store" if store else "online",
                store=store,
                receipt_id=f"R{i}-{j}",
                amount=amount,
                currency=store.currency if store else "EUR",
                occurred_at=now - timedelta(days=days, hours=i),
            )
    return_record(
        channel="store", store=antwerp, receipt_id="R0-0", return_id="X1", amount="100.00"
    )
    return {"user": user, "tiers": tiers, "london": london}


def login(page, base_url):
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "marketing@carat.example")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def test_marketing_changes_period_and_store_and_sees_the_charts(live_server, page_factory, console):
    page = page_factory(DESKTOP)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    login(page, live_server.url)

    # The console opens on the dashboard: the last 30 days against the 30 before.
    assert page.get_by_role("heading", name="Diamond Club dashboard").is_visible()
    page.wait_for_function(CANVASES_DRAWN)
    assert page.locator("canvas[data-chart]").count() == 6
    today = timezone.localdate()
    assert page.locator("#kpi-period").inner_text() == (
        f"{today - timedelta(days=29):%d %b %Y} to {today:%d %b %Y}"
    )
    assert page.locator("#kpi-members_total .kpi-value").inner_text() == "8"
    # custom dates are only asked for when chosen
    assert not page.locator("input[name=start]").is_visible()
    screenshot(page, "dashboard")

    # Last 90 days, London only.
    page.select_option("select[name=period]", "90d")
    page.select_option("select[name=store]", "london")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"period=90d.*store=london"))
    page.wait_for_function(CANVASES_DRAWN)
    assert page.locator("#kpi-period").inner_text() == (
        f"{today - timedelta(days=89):%d %b %Y} to {today:%d %b %Y}"
    )
    assert "store Carat London" in page.locator(".kpi-meta").inner_text()
    # London sold 220 GBP x 1.17 = 257.40 EUR to each client who bought there in 90 days
    revenue = page.locator("#kpi-revenue .kpi-value").inner_text()
    assert revenue.startswith("€") and revenue != "€0"
    store_rows = page.locator("#table-revenue_by_store tbody th").all_inner_texts()
    assert store_rows == ["Carat London"]
    screenshot(page, "dashboard-london-90d")

    # Custom dates appear when chosen; a CSV link keeps the selection.
    page.select_option("select[name=period]", "custom")
    assert page.locator("input[name=start]").is_visible()
    href = page.locator("#table-revenue_by_store a.kpi-csv").get_attribute("href")
    assert "store=london" in href and "export=revenue_by_store" in href

    assert errors == []
