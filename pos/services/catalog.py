"""Sales meet the catalog: purchase lines point at the catalog's products by SKU, and the
best sellers per category are ranked nightly from the lines.

A line whose SKU the catalog does not know is kept as sold (its `product` empty: flagged)
and linked when the ERP sends the product (`lines_link`, after every upsert)."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from campaigns.models import PopularProduct, Product
from pos.models import PurchaseLine

POPULAR_DAYS = 90
POPULAR_PER_CATEGORY = 10


def catalog_lines(purchase, lines: list[dict]) -> list[PurchaseLine]:
    """The sale's lines as rows, each linked to its product (one query for all SKUs);
    the catalog's category wins over the till's for a known SKU. The sale's own lines
    (its fingerprint for replays) are left as the till sent them."""
    skus = {ln["sku"] for ln in lines}
    known = {
        sku: (pk, code)
        for sku, pk, code in Product.objects.filter(sku__in=skus).values_list(
            "sku", "pk", "category__code"
        )
    }
    rows = []
    sale = {
        "purchase": purchase,
        "member_id": purchase.member_id,
        "occurred_at": purchase.occurred_at,
    }
    for ln in lines:
        product = known.get(ln["sku"])
        if product is None:
            # The till's own category, in lower case like the catalog's codes (which the
            # segments and the challenges compare with).
            rows.append(PurchaseLine(**sale, **{**ln, "category": ln["category"].lower()}))
        else:
            rows.append(
                PurchaseLine(**sale, **{**ln, "category": product[1]}, product_id=product[0])
            )
    return rows


def lines_link(skus) -> int:
    """Link the flagged lines (no product) of these SKUs to the catalog, with its
    category. One UPDATE; returns the lines linked."""
    skus = list(skus)
    if not skus:
        return 0
    product = Product.objects.filter(sku=OuterRef("sku"))
    return PurchaseLine.objects.filter(sku__in=skus, product__isnull=True).update(
        product=Subquery(product.values("pk")[:1]),
        category=Subquery(product.values("category__code")[:1]),
    )


def popular_refresh(*, now: datetime | None = None) -> int:
    """Rank the best sellers of each category over the last POPULAR_DAYS days (units
    sold, then revenue) into campaigns.PopularProduct: the ranking is one INSERT ...
    SELECT with a window function over the lines of the period; it replaces the previous
    ranking in the same transaction (readers see the old one until it commits).
    Returns the rows written."""
    now = now or timezone.now()
    since = connection.ops.adapt_datetimefield_value(now - timedelta(days=POPULAR_DAYS))
    at = connection.ops.adapt_datetimefield_value(now)
    popular = PopularProduct._meta.db_table
    line = PurchaseLine._meta.db_table
    product = Product._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DELETE FROM {popular}")  # noqa: S608 - table names only
        cur.execute(
            f"""
            INSERT INTO {popular} (category_id, product_id, rank, units, computed_at)
            SELECT category_id, product_id, rnk, units, %s FROM (
                SELECT p.category_id, p.id AS product_id, SUM(l.quantity) AS units,
                       ROW_NUMBER() OVER (
                           PARTITION BY p.category_id
                           ORDER BY SUM(l.quantity) DESC, SUM(l.amount) DESC, p.id
                       ) AS rnk
                FROM {line} l
                JOIN {product} p ON p.id = l.product_id
                WHERE l.occurred_at >= %s AND p.active = %s
                GROUP BY p.category_id, p.id
            ) ranked
            WHERE rnk <= %s
            """,  # noqa: S608 - table names only, values are parameters
            [at, since, True, POPULAR_PER_CATEGORY],
        )
        return max(cur.rowcount, 0)
