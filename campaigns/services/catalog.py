"""Writes of the product catalog: the ERP's bulk upsert (API and CSV), all or nothing.

A batch is checked whole before anything is written: one bad product refuses the batch
with its position and reason (the ERP fixes and resends; a half-applied catalog would be
worse). The upsert is keyed by SKU and idempotent: sending the same batch again changes
nothing (`unchanged`)."""

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loyalty.kernel.errors import DomainError

from ..models import Category, Product
from ..models.catalog import sku_format, validate_image_url

MAX_BATCH = 1000  # products per request or file
MAX_PRICE = Decimal("9999999999.99")
FIELDS = ("name", "name_nl", "name_fr", "category", "price", "currency", "image_url", "active")
CSV_HEADER = ("sku", *FIELDS)


@dataclass
class UpsertReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _text(row: dict, key: str, limit: int, *, where: str, required=False) -> str:
    value = row.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{where}: {key} must be text.", field=key)
    value = value.strip()
    if "\x00" in value:
        raise DomainError(f"{where}: {key} holds a NUL character.", field=key)
    if required and not value:
        raise DomainError(f"{where}: {key} is required.", field=key)
    if len(value) > limit:
        raise DomainError(f"{where}: {key} is longer than {limit} characters.", field=key)
    return value


def _price(value, *, where: str) -> Decimal:
    if isinstance(value, float | bool) or value is None:
        raise DomainError(
            f'{where}: price must be a decimal string, e.g. "1250.00".', field="price"
        )
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainError(f"{where}: price is not a number.", field="price") from None
    if (
        not price.is_finite()
        or price < 0
        or price > MAX_PRICE
        or price != price.quantize(Decimal("0.01"))
    ):
        raise DomainError(
            f"{where}: price must be from 0 to {MAX_PRICE} with at most 2 decimals.",
            field="price",
        )
    return price.quantize(Decimal("0.01"))


def _active(value, *, where: str) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "true", "1", "y"):
        return True
    if text in ("no", "false", "0", "n"):
        return False
    raise DomainError(f"{where}: active must be yes or no.", field="active")


def _check(value: str, validator, *, where: str, key: str) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        raise DomainError(f"{where}: {' '.join(exc.messages)}", field=key) from None


def clean_product(row: dict, *, position: int, categories: dict[str, Category]) -> dict:
    """One product of a batch, checked; raises DomainError naming its position."""
    where = f"Product {position}"
    if not isinstance(row, dict):
        raise DomainError(f"{where}: an object with sku, name, category, price.", field="products")
    sku = _text(row, "sku", 64, where=where, required=True)
    _check(sku, sku_format, where=where, key="sku")
    code = _text(row, "category", 32, where=where, required=True).lower()
    if code not in categories:
        raise DomainError(
            f"{where}: unknown category '{code}' (known: {', '.join(sorted(categories))}).",
            field="category",
        )
    currency = _text(row, "currency", 3, where=where).upper() or "EUR"
    if len(currency) != 3 or not currency.isalpha():
        raise DomainError(f"{where}: currency is a 3-letter code.", field="currency")
    image_url = _text(row, "image_url", 500, where=where)
    _check(image_url, validate_image_url, where=where, key="image_url")
    return {
        "sku": sku,
        "name": _text(row, "name", 120, where=where, required=True),
        "name_nl": _text(row, "name_nl", 120, where=where),
        "name_fr": _text(row, "name_fr", 120, where=where),
        "category": categories[code],
        "price": _price(row.get("price"), where=where),
        "currency": currency,
        "image_url": image_url,
        "active": _active(row.get("active"), where=where),
    }


def products_upsert(rows: list[dict]) -> UpsertReport:
    """Create or update the products of `rows` by SKU (up to MAX_BATCH; an empty list
    changes nothing), all or nothing."""
    if not isinstance(rows, list):
        raise DomainError(f"Send a list of up to {MAX_BATCH} products.", field="products")
    if len(rows) > MAX_BATCH:
        raise DomainError(
            f"At most {MAX_BATCH} products per request ({len(rows)} sent).", field="products"
        )
    categories = {c.code: c for c in Category.objects.all()}
    clean = [clean_product(r, position=i + 1, categories=categories) for i, r in enumerate(rows)]
    seen: set[str] = set()
    for i, p in enumerate(clean):
        if p["sku"] in seen:
            raise DomainError(
                f"Product {i + 1}: SKU {p['sku']} is twice in the batch.", field="sku"
            )
        seen.add(p["sku"])
    report = UpsertReport()
    now = timezone.now()
    with transaction.atomic():
        existing = {p.sku: p for p in Product.objects.select_for_update().filter(sku__in=seen)}
        new, changed = [], []
        for p in clean:
            old = existing.get(p["sku"])
            if old is None:
                new.append(Product(**p, updated_at=now))
                report.created.append(p["sku"])
                continue
            if all(getattr(old, k) == v for k, v in p.items()):
                report.unchanged.append(p["sku"])
                continue
            for k, v in p.items():
                setattr(old, k, v)
            old.updated_at = now
            changed.append(old)
            report.updated.append(p["sku"])
        # A parallel batch that created the same SKU first makes this one fail on the
        # unique SKU and roll back whole (the ERP retries; the retry updates).
        Product.objects.bulk_create(new)
        Product.objects.bulk_update(changed, [*FIELDS, "updated_at"])
    return report


def products_from_csv(data: bytes) -> list[dict]:
    """The rows of a catalog CSV (UTF-8, comma-separated, header row with at least sku,
    name, category, price; extra columns ignored) as products_upsert takes them."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("The file is not UTF-8 text.", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = {"sku", "name", "category", "price"} - set(header)
    if missing:
        raise DomainError(f"The header row lacks: {', '.join(sorted(missing))}.", field="file")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_BATCH:
            raise DomainError(f"At most {MAX_BATCH} products per file.", field="file")
        rows.append({k: (row.get(k) or "") for k in CSV_HEADER if k in header})
    return rows
