"""Segments as one SQL query: each condition is a Q on Member (or an EXISTS); the
conditions of a group are joined by AND, the groups by OR. Nothing is loaded into Python
to decide membership, and the console's live count is one COUNT with FILTER clauses
(segment_reach)."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from loyalty.kernel.catalogs import catalog_choices, catalog_unknown, split_codes
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


def _percent(value: str) -> Decimal:
    p = _decimal(str(value).strip().rstrip("%"))
    if not p.is_finite() or not Decimal(0) <= p <= Decimal(100):
        raise DomainError(f"'{value}' is not a percentage from 0 to 100.", field="value")
    return p / 100


def _amount(value: str) -> Decimal:
    """EUR, from 0 up to what the column holds."""
    a = _decimal(value)
    if not a.is_finite() or not Decimal(0) <= a < Decimal(10) ** 10:
        raise DomainError(f"'{value}' is not an amount in EUR.", field="value")
    return a


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
    elif f == F.P_ALIVE_MAX:
        q = Q(prediction__p_alive__lte=float(_percent(v)))
    elif f == F.P_ALIVE_MIN:
        q = Q(prediction__p_alive__gte=float(_percent(v)))
    elif f == F.CLV_MIN:
        q = Q(prediction__clv_12m_eur__gte=_amount(v))
    elif f in CATALOG_FIELDS:
        q = catalog_condition_q(f, v, now=now)
    else:
        raise DomainError(f"Unknown condition: {f}.", field="field")
    if cond.negate and f in (F.P_ALIVE_MAX, F.P_ALIVE_MIN, F.CLV_MIN):
        # "Not" means the other side among the scored members, never the unscored ones.
        return Q(prediction__isnull=False) & ~q
    if f in (F.STORE, F.CHANNEL):
        # A join over purchases would repeat members: use EXISTS instead.
        q = Q(pk__in=Member.objects.filter(q).values("pk"))
    return ~q if cond.negate else q


# Conditions whose value names codes of a catalog (loyalty.kernel.catalogs): the builder
# offers them as choices and condition_check refuses a code that does not exist.
CONDITION_KINDS = {F.TIER: "tier", F.STORE: "store", F.CHANNEL: "channel", F.CLUB: "club"}
MAX_GROUPS, MAX_CONDITIONS = 10, 40


def condition_choices(field: str) -> list[tuple[str, str]] | None:
    """The values a condition may take, when it names something (None: typed in)."""
    if field == F.LANGUAGE:
        return [(code, str(name)) for code, name in settings.LANGUAGES]
    kind = CONDITION_KINDS.get(field)
    return catalog_choices(kind) if kind else None


def condition_check(cond: SegmentCondition, *, now: datetime) -> None:
    """A condition as the console saves it: its codes exist, its value reads."""
    kind = CONDITION_KINDS.get(cond.field)
    unknown = catalog_unknown(kind, split_codes(cond.value)) if kind else []
    if cond.field == F.LANGUAGE:
        known = {code for code, _name in settings.LANGUAGES}
        unknown = [c for c in split_codes(cond.value) if c.lower() not in known]
    if unknown:
        raise DomainError(f"Not known: {', '.join(unknown)}.", field="value")
    condition_q(cond, now=now)


def conditions_q(conditions: Iterable[SegmentCondition], *, now: datetime) -> Q | None:
    """AND within a group, OR between groups; None without any condition."""
    groups: dict[int, Q] = {}
    for cond in conditions:
        q = condition_q(cond, now=now)
        groups[cond.group] = (groups[cond.group] & q) if cond.group in groups else q
    combined = None
    for q in groups.values():
        combined = q if combined is None else (combined | q)
    return combined


def members_matching(
    conditions: Iterable[SegmentCondition], *, now: datetime | None = None
) -> QuerySet[Member]:
    live = Member.objects.filter(erased_at__isnull=True)
    q = conditions_q(conditions, now=now or timezone.now())
    return live if q is None else live.filter(q)


def segment_members(segment: Segment, *, now: datetime | None = None) -> QuerySet[Member]:
    return members_matching(segment.conditions.all(), now=now)


def segment_reach(conditions: Iterable[SegmentCondition], *, now: datetime | None = None) -> dict:
    """How many members match, and how many of them can be reached: by e-mail (agreed to
    marketing e-mails) and by text message (agreed, with a phone number). One query."""
    return members_matching(conditions, now=now).aggregate(
        members=Count("pk"),
        email=Count("pk", filter=Q(email_opt_in=True) & ~Q(email="")),
        sms=Count("pk", filter=Q(sms_opt_in=True) & ~Q(phone="")),
    )
