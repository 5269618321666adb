"""Segment conditions on what members bought (the catalog's categories and SKUs) and on
what they answered in the thank-you questionnaire. Each is one EXISTS (or NOT EXISTS)
over the sale lines or the answers, correlated to the member: set-based, never a list
of members in Python.

Sale lines and answers are the pos app's tables: their models are reached through the
member's relations (as campaigns.segments reads purchases by relation name), so this
layer imports nothing from above it."""

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from loyalty.kernel.errors import DomainError
from members.models import Member

from .models import SegmentCondition

F = SegmentCondition.Field
FIELDS = frozenset(
    {
        F.BOUGHT_CATEGORY,
        F.NEVER_CATEGORY,
        F.BOUGHT_SKU,
        F.PREFERS_METAL,
        F.PREFERS_STONE,
        F.PREFERS_STYLE,
        F.GIFT_BUYER,
    }
)
MAX_CODES = 20
MAX_DAYS = 3650


def _lines():
    return Member._meta.get_field("purchase_lines").related_model.objects


def _answers():
    return Member._meta.get_field("questionnaire_answers").related_model.objects


def _list(value: str, *, lower: bool = True) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if not items:
        raise DomainError("Name at least one value (comma-separated).", field="value")
    if len(items) > MAX_CODES:
        raise DomainError(f"At most {MAX_CODES} values.", field="value")
    if any(len(v) > 64 for v in items):
        raise DomainError("A value is longer than 64 characters.", field="value")
    return [v.lower() for v in items] if lower else items


def _category_window(value: str) -> tuple[list[str], int | None]:
    """'rings, earrings' (ever) or 'rings:90' (in the last 90 days)."""
    codes, _sep, days = (value or "").partition(":")
    if not _sep:
        return _list(codes), None
    try:
        n = int(days.strip())
    except ValueError:
        raise DomainError(f"'{days.strip()}' is not a number of days.", field="value") from None
    if not 1 <= n <= MAX_DAYS:
        raise DomainError(f"Days from 1 to {MAX_DAYS}.", field="value")
    return _list(codes), n


def _bought(now: datetime, *, days: int | None = None, **lookups) -> Q:
    """Members with a sale line matching `lookups` (in the last `days`). The lines carry
    their sale's member and moment: an index-only scan of (category, member, moment)."""
    lines = _lines().filter(member=OuterRef("pk"), **lookups)
    if days is not None:
        lines = lines.filter(occurred_at__gte=now - timedelta(days=days))
    return Q(Exists(lines))


def _prefers(field: str, values: list[str]) -> Q:
    """The member's latest answer that states `field` names one of `values` (the
    answers' history is kept; a later answer changes the preference)."""
    later = (
        _answers()
        .filter(member=OuterRef("member"), answered_at__gt=OuterRef("answered_at"))
        .exclude(**{field: ""})
    )
    return Q(
        Exists(
            _answers()
            .filter(member=OuterRef("pk"), **{f"{field}__in": values})
            .filter(~Exists(later))
        )
    )


def catalog_condition_q(field: str, value: str, *, now: datetime) -> Q:
    if field == F.BOUGHT_CATEGORY:
        codes, days = _category_window(value)
        return _bought(now, days=days, category__in=codes)
    if field == F.NEVER_CATEGORY:
        codes, days = _category_window(value)
        return ~_bought(now, days=days, category__in=codes)
    if field == F.BOUGHT_SKU:
        return _bought(now, sku__in=_list(value, lower=False))
    if field == F.PREFERS_METAL:
        return _prefers("metal", _list(value))
    if field == F.PREFERS_STONE:
        return _prefers("stone", _list(value))
    if field == F.PREFERS_STYLE:
        return _prefers("style", _list(value))
    if field == F.GIFT_BUYER:
        gift = Q(Exists(_answers().filter(member=OuterRef("pk"), bought_for="gift")))
        return gift if str(value).strip().lower() in ("yes", "y", "true", "1", "") else ~gift
    raise DomainError(f"Unknown condition: {field}.", field="field")
