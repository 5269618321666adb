"""Read queries about members and their carats."""

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Upper

from loyalty.kernel import hot_sql
from loyalty.kernel.errors import DomainError, NotFound

from . import codes
from .folding import Digits, Fold, digits, fold
from .models import LedgerEntry, Member, User


def account_open_to_member_pages(user: User | None) -> bool:
    """May the member pages (sign-up, password reset, the links they mail) act on this
    login? Only a member's own login that is active or was never opened
    (`pending_activation`). Never a staff login (console rights, groups or permissions),
    nor one an administrator deactivated, nor an erased member's: those change only in
    the console."""
    if user is None or user.pk is None:
        return False
    if user.is_staff or user.is_superuser or not (user.is_active or user.pending_activation):
        return False
    if user.groups.exists() or user.user_permissions.exists():
        return False
    return Member.objects.filter(user=user, erased_at__isnull=True).exists()


def member_code_filter(code: str) -> tuple[str, str]:
    """The indexed column and value that find the member behind what a till or a shop
    assistant has: a QR payload or a member number. Malformed input is a clean
    DomainError/NotFound, never a lookup that scans."""
    code = (code or "").strip()
    if not code or len(code) > 80:
        raise DomainError("Scan a member QR code or type a member number.", field="code")
    token = codes.token_from_payload(code)
    if token is not None:
        return "qr_token", token
    number = codes.normalize_member_number(code)
    if not number.isdigit():
        raise NotFound("No member has this code.", code="unknown_member")
    if not codes.is_valid_member_number(number):
        raise NotFound("This member number is not valid; check the digits.", code="unknown_member")
    return "member_number", number


def member_by_code(code: str) -> Member:
    """Find a member by a QR payload or a member number (see member_code_filter)."""
    field, value = member_code_filter(code)
    # Every scan and sale starts here: a prepared statement on the unique column, the
    # row made into a Member directly (the ORM's query building, or a raw queryset's
    # column mapping, cost more than the query; profiled). `field` is one of two fixed
    # column names.
    if hot_sql.available():
        row = hot_sql.fetch(_MEMBER_BY[field], [value])
        member = None if row is None else member_from_row(row)
    else:
        member = Member.objects.filter(**{field: value}, erased_at__isnull=True).first()
    if member is None:
        raise NotFound("No member has this code.", code="unknown_member")
    return member


# Every column of a member, in the model's order, for hand-written hot queries
# (`m.` before each, for queries that name the member table `m`).
MEMBER_COLUMNS = ", ".join(f"m.{f.column}" for f in Member._meta.concrete_fields)
_MEMBER_ATTNAMES = tuple(f.attname for f in Member._meta.concrete_fields)


def member_from_row(row) -> Member:
    """A Member from the first columns of a row that starts with MEMBER_COLUMNS
    (PostgreSQL, whose values need no converter)."""
    return hot_sql.built(Member, dict(zip(_MEMBER_ATTNAMES, row, strict=False)))


# An erased member is closed: every lookup below leaves them out (see members.services
# member_erase), so no till, page or API call can earn or spend on their account.
_MEMBER_BY = {
    field: f"SELECT {MEMBER_COLUMNS} FROM members_member m "  # noqa: S608
    f"WHERE m.{field} = %s AND m.erased_at IS NULL"
    for field in ("qr_token", "member_number")
}


def member_by_number(number: str) -> Member:
    """A member (not erased) by the member number."""
    member = Member.objects.filter(
        member_number=codes.normalize_member_number(number), erased_at__isnull=True
    ).first()
    if member is None:
        raise NotFound("No member has this number.", code="unknown_member")
    return member


def member_search(query: str) -> QuerySet[Member]:
    """Indexed search for the console: an exact number, an exact e-mail, a phone number,
    or the start of a last or first name. Never a substring scan over every member."""
    q = query.strip()
    qs = Member.objects.all()
    if not q:
        return qs
    digits = codes.normalize_member_number(q)
    if "@" in q:
        return qs.filter(email=q.lower())
    if digits.isdigit() and len(digits) == 10:
        return qs.filter(member_number=digits)
    if q.startswith("+") or (digits.isdigit() and len(digits) >= 6):
        return qs.filter(phone=q.replace(" ", ""))
    upper = q.upper()
    return qs.annotate(_ln=Upper("last_name"), _fn=Upper("first_name")).filter(
        _ln__startswith=upper
    ) | qs.annotate(_ln=Upper("last_name"), _fn=Upper("first_name")).filter(_fn__startswith=upper)


CLIENT_SEARCH_MIN = 2  # characters: one letter would match a twentieth of the members
CLIENT_SEARCH_LIMIT = 20


def client_search(query: str, *, scope: Q | None = None, limit: int = CLIENT_SEARCH_LIMIT):
    """Members (not erased) whose first or last name, e-mail or phone starts with what was
    typed, accents and case aside ("dupré", "Dupre" and "DUPRE" find Dupré); "anne dup"
    matches first and last name (either order). `scope` narrows to the members someone may
    see (a store's clients). At most `limit` members, sorted by name.

    Each candidate list is one prefix range of an expression index (members.folding), read
    in index order and cut at `limit`, so the cost does not grow with the members:
    - a phone number (digits, spaces, +-().): the phone's digits;
    - one word: last name, first name, e-mail;
    - more words: first word on the first name and the rest on the last name, the other
      way round, and the whole on the last name ("van den").
    Too short a query (under CLIENT_SEARCH_MIN characters) finds nothing."""
    text = " ".join((query or "").split())[:80]
    if len(text) < CLIENT_SEARCH_MIN:
        return []
    base = Member.objects.filter(erased_at__isnull=True)
    if scope is not None:
        base = base.filter(scope)
    words = fold(text).split(" ")
    whole = " ".join(words)
    ln, fn, em, ph = (
        Fold("last_name"),
        Fold("first_name"),
        Fold("email"),
        Digits("phone"),
    )
    candidates = []  # (queryset, the expression it is read in order of)
    number = digits(text)
    if len(number) >= 3 and not text.strip("+0123456789 -().").strip():
        # A phone number as people type it: "+32 470 12", "0032 470", or the national
        # "0470 12" of a number stored as +32 470 12...: one small range per country.
        for prefix in _phone_prefixes(number):
            candidates.append((base.annotate(_k=ph).filter(_k__startswith=prefix), "_k"))
    elif len(words) == 1:
        candidates += [
            (base.annotate(_k=ln).filter(_k__startswith=whole), "_k"),
            (base.annotate(_k=fn).filter(_k__startswith=whole), "_k"),
            (base.annotate(_k=em).filter(_k__startswith=whole), "_k"),
        ]
    else:
        first, rest = words[0], " ".join(words[1:])
        both = base.annotate(_k=fn, _l=ln)
        candidates += [
            (both.filter(_k__startswith=first, _l__startswith=rest), "_k"),
            (base.annotate(_k=ln, _f=fn).filter(_k__startswith=first, _f__startswith=rest), "_k"),
            (base.annotate(_k=ln).filter(_k__startswith=whole), "_k"),
        ]
    found: dict[int, Member] = {}
    for qs, key in candidates:
        # In the index's order only: a tie-break (e.g. the pk) would make PostgreSQL read
        # and sort every member of a common name before the first 20 (measured: 200 ms
        # at 1,000,000 members; 2 ms without).
        for member in qs.order_by(key)[:limit]:
            found.setdefault(member.pk, member)
    return sorted(found.values(), key=lambda m: (fold(m.last_name), fold(m.first_name), m.pk))[
        :limit
    ]


# Countries whose national numbers start with a trunk 0 that the international form drops
# (the stores' countries and their neighbours): "0470 12" is also looked up as "3247012".
TRUNK_ZERO_COUNTRY_CODES = ("32", "31", "33", "352", "41", "43", "44", "49", "39")


def _phone_prefixes(number: str) -> list[str]:
    if number.startswith("00"):
        return [number[2:]]
    if number.startswith("0") and len(number) >= 4:
        return [number] + [code + number[1:] for code in TRUNK_ZERO_COUNTRY_CODES]
    return [number]


def member_duplicates(*, email: str = "", phone: str = "") -> list[Member]:
    """Members (not erased) who already have this e-mail or phone number (its digits),
    for a registration at the counter to offer them instead of a second account."""
    query = Q()
    email = (email or "").strip().lower()
    number = digits(phone)
    if email:
        query |= Q(email=email)
    if len(number) >= 6:
        query |= Q(_phone=number)
    if not query:
        return []
    return list(
        Member.objects.annotate(_phone=Digits("phone"))
        .filter(query, erased_at__isnull=True)
        .order_by("pk")[:5]
    )


def ledger_for_member(member: Member) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(member=member).order_by("-created_at", "-id")


def ledger_mismatches() -> QuerySet:
    """Members whose cached balance differs from the sum of their ledger (should be none)."""
    from django.db.models import F, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    sums = (
        LedgerEntry.objects.filter(member=OuterRef("pk"))
        .values("member")
        .annotate(s=Sum("carats"))
        .values("s")
    )
    return (
        Member.objects.annotate(
            ledger_sum=Coalesce(Subquery(sums, output_field=IntegerField()), Value(0))
        )
        .exclude(balance=F("ledger_sum"))
        .values("member_number", "balance", "ledger_sum")
    )


def member_by_external_id(external_id: str) -> Member:
    """A member by the web shop's or ERP's own id for the customer."""
    external_id = (external_id or "").strip()
    member = (
        Member.objects.filter(external_id=external_id, erased_at__isnull=True).first()
        if external_id
        else None
    )
    if member is None:
        raise NotFound("No member has this external id.", code="unknown_member")
    return member


def member_by_referral_code(code: str) -> Member | None:
    """The member who shared this referral code; None if nobody (or an erased member, who
    refers no one any more) has it."""
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    return Member.objects.filter(referral_code=code, erased_at__isnull=True).first()
