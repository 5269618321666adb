"""The product catalog: the ERP's bulk upsert (API and console CSV), purchase lines
linked to it by SKU, the nightly best sellers and what the mails read of them."""

import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.catalog import favourite_category, popular_products
from campaigns.models import Category, PopularProduct, Product
from campaigns.services.catalog import MAX_BATCH, products_upsert
from loyalty.kernel.errors import DomainError
from pos.models import PurchaseLine
from pos.services import api_key_create, purchase_record
from pos.services.catalog import popular_refresh
from tests.test_api import Api, assert_operations_exercised

URL = "/api/v1/products/"


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Throttle counters live in the cache."""


@pytest.fixture
def categories(db):
    return {
        code: Category.objects.create(code=code, name=code.title(), name_fr=f"{code} (fr)")
        for code in ("rings", "earrings", "necklaces")
    }


def key_client(scope="integration", store=None):
    _key, plain = api_key_create(name=f"{scope} key", scope=scope, store=store)
    client = Api()  # records the operations that answered (tests.test_api)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def product(sku, category="rings", price="100.00", **extra):
    return {"sku": sku, "name": f"Piece {sku}", "category": category, "price": price, **extra}


def test_put_creates_then_replays_unchanged_then_updates(categories):
    api = key_client()
    batch = {
        "products": [
            product("RING-1", name_nl="Ring een", image_url="https://img.example/r1.jpg"),
            product("EAR-1", category="earrings", price="45.50"),
        ]
    }
    first = api.put(URL, batch, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {
        "created": ["RING-1", "EAR-1"],
        "updated": [],
        "unchanged": [],
        "lines_linked": 0,
    }
    again = api.put(URL, batch, format="json")
    assert again.json()["unchanged"] == ["RING-1", "EAR-1"]
    assert Product.objects.count() == 2
    batch["products"][1]["price"] = "49.00"
    changed = api.put(URL, batch, format="json")
    assert changed.json()["updated"] == ["EAR-1"]
    assert Product.objects.get(sku="EAR-1").price == Decimal("49.00")
    assert api.get(URL, {"category": ""}).status_code == 400
    assert api.get(URL, {"limit": "0"}).status_code == 400
    listed = api.get(URL, {"category": "rings"}).json()
    assert [(p["sku"], p["name_nl"], p["price"]) for p in listed] == [
        ("RING-1", "Ring een", "100.00")
    ]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (product("RING-2", image_url="http://img.example/x.jpg"), "image_url"),
        (product("RING-2", image_url="https://[::1/x.jpg"), "image_url"),
        (product("RING-2", image_url="https://user@img.example/x.jpg"), "image_url"),
        (product("RING-2", category="shoes"), "category"),
        (product("RING-2", price=12.5), "price"),
        (product("RING 2"), "sku"),
        ({**product("RING-2"), "colour": "red"}, "colour"),
    ],
)
def test_one_bad_product_refuses_the_whole_batch(categories, bad, field):
    api = key_client()
    response = api.put(URL, {"products": [product("RING-1"), bad]}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not Product.objects.exists()


def test_batch_size_is_bounded_and_scope_is_the_integrations(categories, antwerp):
    api = key_client()
    too_many = [product(f"R-{i}") for i in range(MAX_BATCH + 1)]
    assert api.put(URL, {"products": too_many}, format="json").status_code == 400
    assert api.put(URL, {"products": []}, format="json").json()["created"] == []
    assert api.put(URL, [product("R-1")], format="json").status_code == 400
    till = key_client("till", store=antwerp)
    refused = till.put(URL, {"products": [product("R-1")]}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "scope_not_allowed"
    reader = key_client("read_only")
    assert reader.get(URL).status_code == 200
    assert reader.put(URL, {"products": [product("R-1")]}, format="json").status_code == 403
    assert not Product.objects.exists()


def test_duplicate_sku_in_a_batch_is_refused(categories):
    with pytest.raises(DomainError, match="twice"):
        products_upsert([product("R-1"), product("R-1")])


def test_sale_lines_link_to_the_catalog_and_unknown_skus_are_flagged(categories, member):
    products_upsert([product("RING-1")])
    purchase_record(
        member=member,
        channel="online",
        store=None,
        currency="EUR",
        receipt_id="W-1",
        amount="150.00",
        lines=[
            {"sku": "RING-1", "category": "misc", "amount": "100.00"},
            {"sku": "NEW-9", "category": "earrings", "amount": "50.00"},
        ],
    )
    ring, new = PurchaseLine.objects.order_by("sku").reverse()
    assert (ring.sku, ring.category, ring.sku_known) == ("RING-1", "rings", True)
    assert (new.sku, new.category, new.sku_known) == ("NEW-9", "earrings", False)
    # The ERP sends the product later: the flagged line is linked, with its category.
    api = key_client()
    response = api.put(URL, {"products": [product("NEW-9", category="necklaces")]}, format="json")
    assert response.json()["lines_linked"] == 1
    new.refresh_from_db()
    assert (new.category, new.sku_known) == ("necklaces", True)


def _sale(member, receipt, lines, days_ago=1):
    return purchase_record(
        member=member,
        channel="online",
        store=None,
        currency="EUR",
        receipt_id=receipt,
        amount=str(sum(Decimal(ln["amount"]) for ln in lines)),
        occurred_at=timezone.now() - timedelta(days=days_ago),
        lines=lines,
    )


def test_popular_is_best_sellers_per_category_of_the_last_90_days(categories, enroll):
    products_upsert(
        [product("R-A"), product("R-B"), product("R-C"), product("E-A", category="earrings")]
    )
    a, b, c = enroll(), enroll(), enroll()
    _sale(a, "1", [{"sku": "R-B", "amount": "100.00", "quantity": 2}])
    _sale(b, "2", [{"sku": "R-B", "amount": "100.00"}, {"sku": "R-A", "amount": "100.00"}])
    _sale(c, "3", [{"sku": "E-A", "amount": "10.00"}])
    # Old sales do not count (an integration key may date a sale 400 days back).
    purchase_record(
        member=c,
        channel="online",
        store=None,
        currency="EUR",
        receipt_id="old",
        amount="900.00",
        occurred_at=timezone.now() - timedelta(days=120),
        lines=[{"sku": "R-C", "amount": "900.00", "quantity": 9}],
        max_age=timedelta(days=400),
    )
    assert popular_refresh() == 3
    rows = PopularProduct.objects.order_by("category__code", "rank")
    assert list(rows.values_list("category__code", "rank", "product__sku", "units")) == [
        ("earrings", 1, "E-A", 1),
        ("rings", 1, "R-B", 3),
        ("rings", 2, "R-A", 1),
    ]
    # Run again: the ranking is replaced, not added to.
    assert popular_refresh() == 3
    assert PopularProduct.objects.count() == 3


def test_popular_products_of_the_favourite_category_in_the_members_language(categories, enroll):
    products_upsert(
        [
            product("R-A", name_fr="Bague A", image_url="https://img.example/a.jpg"),
            product("R-B", price="250.00"),
            product("E-A", category="earrings"),
        ]
    )
    buyer, fan, newcomer = enroll(), enroll(language="fr"), enroll()
    _sale(buyer, "1", [{"sku": "R-A", "amount": "100.00", "quantity": 3}])
    _sale(buyer, "2", [{"sku": "R-B", "amount": "250.00"}])
    _sale(fan, "3", [{"sku": "R-B", "amount": "250.00"}])
    _sale(fan, "4", [{"sku": "E-A", "amount": "20.00"}])
    _sale(fan, "5", [{"sku": "R-B", "amount": "250.00"}])
    popular_refresh()
    assert favourite_category(fan).code == "rings"
    cards = popular_products(fan)  # R-B is the fan's own: left out
    assert [(c.sku, c.name, c.price, c.image_url, c.category) for c in cards] == [
        ("R-A", "Bague A", Decimal("100.00"), "https://img.example/a.jpg", "rings (fr)")
    ]
    # 3 units each: the revenue decides (R-B 750.00, R-A 300.00).
    assert [c.sku for c in popular_products(fan, exclude_owned=False)] == ["R-B", "R-A"]
    assert popular_products(newcomer) == []
    Product.objects.filter(sku="R-A").update(active=False)
    assert popular_products(fan) == []


def test_console_csv_upload_and_formula_safe_export(client, marketing, categories):
    data = (
        b"sku,name,name_fr,category,price,image_url\n"
        b"RING-1,=HYPERLINK(1),Bague,rings,120.00,https://img.example/1.jpg\n"
        b"EAR-1,Studs,,earrings,30.00,\n"
    )
    upload = reverse("admin:campaigns_product_upload")
    response = client.post(upload, {"file": SimpleUploadedFile("c.csv", data)})
    assert response.status_code == 302, response.content
    assert Product.objects.get(sku="RING-1").name_fr == "Bague"
    bad = b"sku,name,category,price\nRING-2,Ring,rings,-5\n"
    response = client.post(upload, {"file": SimpleUploadedFile("c.csv", bad)})
    assert response.status_code == 200 and b"price" in response.content
    assert not Product.objects.filter(sku="RING-2").exists()
    export = client.post(
        reverse("admin:campaigns_product_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(Product.objects.values_list("pk", flat=True)),
        },
    )
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in body
    assert body.splitlines()[0].startswith("sku,name,name_nl,name_fr,category,price")


def test_a_nul_character_in_a_csv_is_a_clear_refusal(categories):
    from campaigns.services.catalog import products_from_csv

    with pytest.raises(DomainError, match="NUL"):
        products_upsert(products_from_csv(b"sku,name,category,price\nR-1,Ri\x00ng,rings,10.00\n"))
    assert not Product.objects.exists()


def test_every_documented_operation_was_exercised(request):
    """Runs last: the catalog's operations answered a test of this module successfully."""
    assert_operations_exercised(request, sys.modules[__name__])
