"""Reads of the product catalog for the mails: the member's favourite category and its
best sellers, in the member's language (campaigns.models.catalog; the nightly job that
ranks them is pos.services.catalog.popular_refresh)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max

from loyalty.kernel.translated import localized
from members.models import Member

from .models import Category, PopularProduct, Product


@dataclass(frozen=True)
class ProductCard:
    sku: str
    name: str  # in the requested language (English where it has none)
    category: str
    price: Decimal
    currency: str
    image_url: str


def favourite_category(member: Member) -> Category | None:
    """The category the member bought most lines of (the latest purchase breaks a tie);
    None for a member without a known category. One grouped query over the member's
    lines (read through the member's relation, as the segments do)."""
    if member.pk is None:
        return None
    row = (
        Member.objects.filter(pk=member.pk)
        .exclude(purchase_lines__category="")
        .filter(purchase_lines__category__isnull=False)
        .values("purchase_lines__category")
        .annotate(n=Count("purchase_lines"), last=Max("purchase_lines__occurred_at"))
        .order_by("-n", "-last")
        .first()
    )
    if row is None:
        return None
    return Category.objects.filter(code=row["purchase_lines__category"]).first()


def popular_products(
    member: Member, *, limit: int = 3, language: str | None = None, exclude_owned: bool = True
) -> list[ProductCard]:
    """The best sellers (last 90 days, see popular_refresh) of the member's favourite
    category, active products only, at most `limit` (1-12); SKUs the member already
    bought are left out unless exclude_owned is False. Empty when the member has no
    favourite category or the ranking has not run yet."""
    limit = max(1, min(int(limit), 12))
    category = favourite_category(member)
    if category is None:
        return []
    rows = PopularProduct.objects.filter(category=category, product__active=True).select_related(
        "product"
    )
    if exclude_owned and member.pk is not None:
        owned = Member.objects.filter(pk=member.pk, purchase_lines__sku__isnull=False).values(
            "purchase_lines__sku"
        )
        rows = rows.exclude(product__sku__in=owned)
    lang = language or member.language
    return [
        ProductCard(
            sku=row.product.sku,
            name=localized(row.product, "name", lang),
            category=localized(category, "name", lang),
            price=row.product.price,
            currency=row.product.currency,
            image_url=row.product.image_url,
        )
        for row in rows.order_by("rank")[:limit]
    ]


def products_page(*, category: str | None = None, after: str | None = None, limit: int = 200):
    """A page of the catalog by SKU (the API's list): keyset pagination on the unique SKU."""
    rows = Product.objects.select_related("category").order_by("sku")
    if category:
        rows = rows.filter(category__code=category)
    if after:
        rows = rows.filter(sku__gt=after)
    return list(rows[: max(1, min(int(limit), 1000))])
