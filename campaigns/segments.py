"""Segments as one SQL query: each condition is a Q on Member (or an EXISTS), combined
with AND or OR. Nothing is loaded into Python to decide membership."""

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from loyalty.kernel.errors import DomainError
from members.models import Member

from .models import ClubMembership, Segment, SegmentCondition
from .segments_catalog import FIELDS as CATALOG_FIELDS
from .segments_catalog import catalog_condition_q

F = SegmentCondition.Field


def _codes(value: str, *, upper=False) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return [v.upper() for v in items] if upper else [v.lower() for v in items]


def _int(value: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise DomainError(f"'{value}' is not a whole number.", field="value") from None


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainError(f"'{value}' is not a number.", field="value") from None


def _date(value: str) -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"'{value}' is not a date (YYYY-MM-DD).", field="value") from None


def _yes(value: str) -> bool:
    return str(value).strip().lower() in ("yes", "y", "true", "1", "")


def _day_within(field: str, days: int, today: date) -> Q:
    """Month/day of `field` falls in the next `days` days (wrapping the year); an index on
    the date is of no help here, but the month/day pairs keep it one scan."""
    q = Q()
    for offset in range(max(days, 0) + 1):
        d = today + timedelta(days=offset)
        q |= Q(**{f"{field}__month": d.month, f"{field}__day": d.day})
    return q


def condition_q(cond: SegmentCondition, *, now: datetime) -> Q:
    f, v = cond.field, cond.value
    today = timezone.localdate(now)
    if f == F.TIER:
        q = Q(status__tier__code__in=_codes(v))
    elif f == F.BALANCE_MIN:
        q = Q(balance__gte=_int(v))
    elif f == F.BALANCE_MAX:
        q = Q(balance__lte=_int(v))
    elif f == F.SPEND_MIN:
        q = Q(lifetime_spend_eur__gte=_decimal(v))
    elif f == F.SPEND_MAX:
        q = Q(lifetime_spend_eur__lte=_decimal(v))
    elif f == F.PURCHASES_MIN:
        q = Q(purchase_count__gte=_int(v))
    elif f == F.PURCHASES_MAX:
        q = Q(purchase_count__lte=_int(v))
    elif f == F.ONE_PURCHASE:
        q = Q(purchase_count=1)
    elif f == F.NEVER_BOUGHT:
        q = Q(purchase_count=0)
    elif f == F.DAYS_SINCE_PURCHASE_MIN:
        q = Q(last_purchase_at__lte=now - timedelta(days=_int(v)))
    elif f == F.DAYS_SINCE_PURCHASE_MAX:
        q = Q(last_purchase_at__gte=now - timedelta(days=_int(v)))
    elif f == F.BIRTHDAY_WITHIN:
        q = _day_within("birth_date", _int(v), today)
    elif f == F.WEDDING_WITHIN:
        q = _day_within("wedding_anniversary", _int(v), today)
    elif f == F.JOINED_AFTER:
        q = Q(joined_at__date__gte=_date(v))
    elif f == F.JOINED_BEFORE:
        q = Q(joined_at__date__lt=_date(v))
    elif f == F.JOINED_WITHIN:
        q = Q(joined_at__gte=now - timedelta(days=_int(v)))
    elif f == F.STORE:
        # Sales are written by the pos app; reading them by relation name keeps this
        # app free of imports from a higher layer.
        q = Q(purchases__store__code__in=_codes(v))
    elif f == F.CHANNEL:
        q = Q(purchases__channel__in=_codes(v))
    elif f == F.COUNTRY:
        q = Q(country__in=_codes(v, upper=True))
    elif f == F.LANGUAGE:
        q = Q(language__in=_codes(v))
    elif f == F.EMAIL_CONSENT:
        q = Q(email_opt_in=_yes(v))
    elif f == F.SMS_CONSENT:
        q = Q(sms_opt_in=_yes(v))
    elif f == F.CLUB:
        q = Q(
            Exists(
                ClubMembership.objects.filter(
                    member=OuterRef("pk"), club__name__iexact=v.strip(), ends_at__gt=now
                )
            )
        )
    elif f == F.AMBASSADOR:
        q = Q(status__tier__invite_only=_yes(v))
    elif f in CATALOG_FIELDS:
        q = catalog_condition_q(f, v, now=now)
    else:
        raise DomainError(f"Unknown condition: {f}.", field="field")
    if f in (F.STORE, F.CHANNEL):
        # A join over purchases would repeat members: use EXISTS instead.
        q = Q(pk__in=Member.objects.filter(q).values("pk"))
    return ~q if cond.negate else q


def segment_members(segment: Segment, *, now: datetime | None = None) -> QuerySet[Member]:
    now = now or timezone.now()
    conditions = list(segment.conditions.all())
    live = Member.objects.filter(erased_at__isnull=True)
    if not conditions:
        return live
    combined = Q()
    for cond in conditions:
        q = condition_q(cond, now=now)
        combined = (combined & q) if segment.match == "all" else (combined | q)
    return live.filter(combined)
