"""Reads for clienteling: which clients a store sees, a client's book, the day view."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from members.models import Member, User
from members.selectors import client_search

from ..models import Purchase, PurchaseLine, Store
from .models import Appointment, ClientNote, ClientProfile, StoreClient, WishlistItem


def client_scope(stores) -> Q:
    """The members in these stores' client books: registered or scanned there (StoreClient),
    or bought there. Both are index lookups per member (storeclient_unique,
    purchase_member), so the search can apply it to its candidates."""
    store_ids = [s.pk for s in stores]
    return Q(Exists(StoreClient.objects.filter(member=OuterRef("pk"), store_id__in=store_ids))) | Q(
        Exists(Purchase.objects.filter(member=OuterRef("pk"), store_id__in=store_ids))
    )


def client_visible(member: Member, stores) -> bool:
    return Member.objects.filter(client_scope(stores), pk=member.pk).exists()


def clients_find(query: str, stores) -> list[Member]:
    """The client search at the counter: only the stores' own clients."""
    return client_search(query, scope=client_scope(stores))


@dataclass
class OwnedPiece:
    sku: str
    category: str
    bought_at: datetime
    store: str
    amount: str
    currency: str


@dataclass
class ClientBook:
    member: Member
    profile: ClientProfile | None
    notes: list[ClientNote]
    wishlist: list[WishlistItem]
    pieces: list[OwnedPiece]
    dates: list[tuple[str, date]]
    appointments: list[Appointment]
    questionnaire: dict | None = None  # no questionnaire yet: the slot is kept for it
    extra: dict = field(default_factory=dict)


def pieces_owned(member: Member, limit: int = 50) -> list[OwnedPiece]:
    """What the client bought, line by line (SKU and category as the till sent them:
    there is no product catalog yet), minus sales returned in full."""
    lines = (
        PurchaseLine.objects.filter(purchase__member=member)
        .select_related("purchase", "purchase__store")
        .annotate(returned=Sum("purchase__returns__amount"))
        .order_by("-purchase__occurred_at", "-pk")[:limit]
    )
    out = []
    for line in lines:
        p = line.purchase
        if line.returned is not None and line.returned >= p.amount:
            continue
        out.append(
            OwnedPiece(
                sku=line.sku,
                category=line.category,
                bought_at=p.occurred_at,
                store=p.store.name if p.store else "",
                amount=str(line.amount),
                currency=p.currency,
            )
        )
    return out


def client_book(member: Member, *, store: Store) -> ClientBook:
    from django.utils.translation import gettext as _

    profile = ClientProfile.objects.filter(member=member).select_related("associate").first()
    dates = []
    if member.birth_date:
        dates.append((_("Birthday"), member.birth_date))
    if member.wedding_anniversary:
        dates.append((_("Wedding anniversary"), member.wedding_anniversary))
    if profile and profile.partner_birthday:
        dates.append((_("Partner's birthday"), profile.partner_birthday))
    return ClientBook(
        member=member,
        profile=profile,
        notes=list(
            ClientNote.objects.filter(member=member)
            .select_related("author", "store")
            .order_by("-created_at", "-pk")[:30]
        ),
        wishlist=list(
            WishlistItem.objects.filter(member=member, removed_at__isnull=True).order_by(
                "-created_at", "-pk"
            )
        ),
        pieces=pieces_owned(member),
        dates=dates,
        appointments=list(
            Appointment.objects.filter(
                member=member,
                status=Appointment.Status.BOOKED,
                ends_at__gte=timezone.now(),
            )
            .select_related("associate", "store")
            .order_by("starts_at")
        ),
    )


def store_associates(store: Store) -> list[User]:
    return list(store.staff.filter(is_active=True).order_by("full_name", "email"))


def day_bounds(day: date, zone) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def day_view(store: Store, day: date, zone) -> list[Appointment]:
    start, end = day_bounds(day, zone)
    return list(
        Appointment.objects.filter(
            store=store,
            status=Appointment.Status.BOOKED,
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .select_related("member", "associate")
        .order_by("starts_at", "associate__full_name")
    )
