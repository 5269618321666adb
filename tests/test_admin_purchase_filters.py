"""The console's purchase list filters by currency without reading the sales for the
choices (a DISTINCT over millions of rows)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pos.services import purchase_record
from tests.factories import make_rate


def test_purchase_list_filters_by_currency_from_the_rates_table(
    client, marketing, enroll, antwerp, london, gbp
):
    make_rate("CHF", "1.050000")
    member = enroll()
    for receipt, store, currency in (("P-EUR", antwerp, "EUR"), ("P-GBP", london, "GBP")):
        purchase_record(
            member=member,
            channel="store",
            store=store,
            receipt_id=receipt,
            amount="100.00",
            currency=currency,
        )
    url = reverse("admin:pos_purchase_changelist")
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url).content.decode()
    assert "P-EUR" in page and "P-GBP" in page
    for code in ("CHF", "EUR", "GBP"):  # CHF: a known rate, no sale yet
        assert f"?currency__exact={code}" in page
    assert not any(
        "DISTINCT" in q["sql"] and "pos_purchase" in q["sql"] for q in ctx.captured_queries
    )
    page = client.get(url, {"currency__exact": "GBP"}).content.decode()
    assert "P-GBP" in page and "P-EUR" not in page
