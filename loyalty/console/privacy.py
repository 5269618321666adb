"""A member's data, all of it, for the right of access (GDPR art. 15).

Everything Carat holds about the person: the profile, and one section for every model
that points at the member (SECTIONS). A test walks every model with a foreign-key path
to the member and fails if one is in no section (tests/test_privacy_export.py), so a new
model cannot be forgotten; only pure-internal tables may be left out, in EXCLUDED, each
with its reason."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from members import profile
from members.models import Member, MemberPrediction, User


@dataclass(frozen=True)
class Section:
    name: str
    model: str  # "app_label.ModelName"
    path: str  # the lookup from the model to the member
    fields: tuple[str, ...]
    order_by: tuple[str, ...] = ("pk",)


SECTIONS: tuple[Section, ...] = (
    Section(
        "consents",
        "members.ConsentChange",
        "member",
        ("channel", "granted", "source", "changed_at"),
        ("changed_at", "pk"),
    ),
    Section(
        "ledger",
        "members.LedgerEntry",
        "member",
        ("created_at", "occurred_at", "kind", "carats", "balance_after", "reason"),
        ("created_at", "pk"),
    ),
    Section(
        # Friends who joined with this member's referral code (the referrals given; the
        # one received is `referred_by` in the profile).
        "referrals_given",
        "members.Member",
        "referred_by",
        ("member_number", "joined_at", "first_purchase_at"),
        ("joined_at", "pk"),
    ),
    Section(
        # The nightly predictions about the member (profiling, GDPR art. 15(1)(h)).
        "predictions",
        "members.MemberPrediction",
        "member",
        (
            "computed_at",
            "orders",
            "p_alive",
            "expected_90",
            "expected_365",
            "order_value_eur",
            "clv_12m_eur",
        ),
    ),
    Section(
        "erasure",
        "members.ErasureRecord",
        "member",
        ("erased_at", "source", "reason", "carats_written_off"),
    ),
    Section(
        "purchases",
        "pos.Purchase",
        "member",
        (
            "occurred_at",
            "channel",
            "store__code",
            "receipt_id",
            "amount",
            "currency",
            "amount_eur",
            "carats_awarded",
            "carats_status",
            "earning_reason",
            "tier_after",
        ),
        ("occurred_at", "pk"),
    ),
    Section(
        "purchase_lines",
        "pos.PurchaseLine",
        "purchase__member",
        ("purchase__receipt_id", "sku", "category", "quantity", "amount", "service_guarantee"),
    ),
    Section(
        # The thank-you questionnaire (pos.questionnaire): every answer, with its history.
        "questionnaire_answers",
        "pos.QuestionnaireAnswer",
        "member",
        (
            "answered_at",
            "purchase__receipt_id",
            "satisfaction",
            "bought_for",
            "metal",
            "stone",
            "style",
            "ring_size",
            "partner_birthday",
            "wedding_anniversary",
            "voucher__code",
        ),
        ("answered_at", "pk"),
    ),
    Section(
        "returns",
        "pos.Return",
        "purchase__member",
        (
            "created_at",
            "purchase__receipt_id",
            "return_id",
            "amount",
            "carats_reversed",
            "carats_cancelled",
            "carats_unrecovered",
        ),
        ("created_at", "pk"),
    ),
    Section(
        "held_carats",
        "campaigns.HeldCarats",
        "member",
        ("occurred_at", "carats", "status", "reason", "release_at", "decided_at"),
        ("occurred_at", "pk"),
    ),
    Section(
        "bonus_awards",
        "campaigns.Award",
        "member",
        ("occurred_at", "earning_rule__name", "action_rule__name", "carats", "reference"),
        ("occurred_at", "pk"),
    ),
    Section("tier", "tiers.MemberTier", "member", ("tier__name", "reached_at", "hold_until")),
    Section(
        "tier_history",
        "tiers.TierChange",
        "member",
        ("changed_at", "from_tier__name", "to_tier__name", "reason", "note"),
        ("changed_at", "pk"),
    ),
    Section(
        # Without the tier's name: an invite-only tier stays hidden until it is the
        # member's own (invariant 6); the accepted one is in the tier history.
        "invitations",
        "tiers.Invitation",
        "member",
        ("created_at", "note", "expires_at", "accepted_at"),
        ("created_at", "pk"),
    ),
    Section(
        "vouchers",
        "campaigns.Voucher",
        "member",
        (
            "code",
            "title",
            "source",
            "cost_carats",
            "status",
            "issued_at",
            "valid_until",
            "used_at",
            "used_where",
            "cancelled_at",
        ),
        ("issued_at", "pk"),
    ),
    Section(
        "birthday_gifts",
        "campaigns.BirthdayGift",
        "member",
        ("year", "carats", "voucher__code"),
        ("year", "pk"),
    ),
    Section(
        # Every paid period, past ones included.
        "club_memberships",
        "campaigns.ClubMembership",
        "member",
        ("club__name", "started_at", "ends_at", "carats_paid", "reminded_at"),
        ("started_at", "pk"),
    ),
    Section(
        "challenges",
        "campaigns.ChallengeEnrolment",
        "member",
        (
            "challenge__name",
            "enrolled_at",
            "deadline",
            "status",
            "progress",
            "completed_at",
            "carats_given",
        ),
        ("enrolled_at", "pk"),
    ),
    Section("badges", "campaigns.Badge", "member", ("name", "earned_at"), ("earned_at", "pk")),
    Section(
        "giveaways",
        "campaigns.Giveaway",
        "member",
        ("hosted_on", "title", "channel", "free_piece", "notes"),
        ("hosted_on", "pk"),
    ),
    Section(
        "rentals",
        "campaigns.Rental",
        "member",
        ("starts_on", "ends_on", "piece", "sku", "event", "status", "notes"),
        ("starts_on", "pk"),
    ),
    Section(
        "messages",
        "campaigns.MessageLog",
        "member",
        (
            "created_at",
            "trigger",
            "marketing",
            "subject",
            "status",
            "sent_at",
            "opened_at",
            "clicked_at",
            "unsubscribed_at",
        ),
        ("created_at", "pk"),
    ),
    Section(
        # The card in the phone's wallet (its pass token is a credential, not shown).
        "wallet_card",
        "members.WalletPass",
        "member",
        ("serial", "created_at", "google_issued_at"),
    ),
    Section(
        "wallet_devices",
        "members.AppleRegistration",
        "wallet_pass__member",
        ("device_id", "created_at"),
        ("created_at", "pk"),
    ),
    # The client book at the stores (pos.clienteling): the associates' notes are internal
    # at the counter, but they are personal data, so the member's copy holds them.
    Section(
        "store_client_books",
        "pos.StoreClient",
        "member",
        ("store__name", "reason", "created_at"),
        ("created_at", "pk"),
    ),
    # Where and with whom the member joined on their own phone (pos.CounterJoin).
    Section(
        "joined_at_store",
        "pos.CounterJoin",
        "member",
        ("store__name", "associate__full_name", "joined_at"),
    ),
    Section(
        "client_preferences",
        "pos.ClientProfile",
        "member",
        (
            "metals",
            "stones",
            "style",
            "ring_size",
            "bracelet_size",
            "partner_name",
            "partner_birthday",
            "associate__full_name",
            "updated_at",
        ),
    ),
    Section(
        "client_notes",
        "pos.ClientNote",
        "member",
        ("created_at", "store__name", "text", "follow_up_on"),
        ("created_at", "pk"),
    ),
    Section(
        "wishlist",
        "pos.WishlistItem",
        "member",
        ("created_at", "description", "sku", "source", "removed_at"),
        ("created_at", "pk"),
    ),
    Section(
        "client_contacts",
        "pos.ClientContact",
        "member",
        ("created_at", "store__name", "channel", "reason", "note"),
        ("created_at", "pk"),
    ),
    Section(
        "redemption_requests",
        "pos.RedemptionRequest",
        "member",
        ("created_at", "store__name", "reward__name", "status", "decided_at"),
        ("created_at", "pk"),
    ),
    Section(
        "appointments",
        "pos.Appointment",
        "member",
        ("starts_at", "ends_at", "store__name", "purpose", "note", "status"),
        ("starts_at", "pk"),
    ),
)

# Models with a path to the member that the export leaves out on purpose. Only tables
# that hold nothing about the person beyond what a section above already shows.
EXCLUDED: dict[str, str] = {
    "pos.AppointmentSlot": "the quarter hours an appointment holds in the associate's "
    "diary (the double-booking guard); the appointment itself is in `appointments`",
    "members.AmbassadorCandidate": "a second view (proxy) of the same rows as "
    "`predictions`, for the console's list",
}

_PROFILE_FIELDS = (
    *profile.names(),
    # The account's facts.
    "referral_code",
    "referred_by__member_number",
    "qr_rotated_at",
    "balance",
    "last_activity_at",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
    "lifetime_spend_eur",
    "erased_at",
)
_ACCOUNT_FIELDS = ("email", "full_name", "is_active", "date_joined", "last_login")


def _plain(value):
    if value is None or isinstance(value, (int, bool, str, float, dict, list)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _rows(qs, fields) -> list[dict]:
    return [
        {f: _plain(v) for f, v in zip(fields, values, strict=True)}
        for values in qs.values_list(*fields)
    ]


def section_queryset(section: Section, member: Member):
    from django.apps import apps

    model = apps.get_model(section.model)
    return model.objects.filter(**{section.path: member}).order_by(*section.order_by)


def member_export(member: Member) -> dict:
    """Everything Carat holds about the member, as plain JSON-able data."""
    (profile,) = _rows(Member.objects.filter(pk=member.pk), _PROFILE_FIELDS)
    profile["referred_by"] = profile.pop("referred_by__member_number")
    account = None
    if member.user_id:
        (account,) = _rows(User.objects.filter(pk=member.user_id), _ACCOUNT_FIELDS)
    export = {"profile": profile, "account": account}
    for section in SECTIONS:
        export[section.name] = _rows(section_queryset(section, member), section.fields)
    return export


def _questionnaire_erase(member: Member) -> None:
    """The questionnaire's answers are the person's tastes and dates: deleted (the
    purchase and the voucher it granted stay, for accounting)."""
    from pos.models import QuestionnaireAnswer

    QuestionnaireAnswer.objects.filter(member=member).delete()


def _client_book_erase(member: Member) -> None:
    """The client book goes with the member: notes, preferences and the wishlist are
    deleted; contacts and appointments stay (the message log and the store's diary),
    without their notes, and the appointments to
    come are cancelled (the associate's time is freed)."""
    from pos.clienteling.models import (
        Appointment,
        AppointmentSlot,
        ClientContact,
        ClientNote,
        ClientProfile,
        WishlistItem,
    )

    ClientNote.objects.filter(member=member).delete()
    ClientProfile.objects.filter(member=member).delete()
    WishlistItem.objects.filter(member=member).delete()
    ClientContact.objects.filter(member=member).exclude(note="").update(note="")
    Appointment.objects.filter(member=member).exclude(note="").update(note="")
    upcoming = Appointment.objects.filter(
        member=member, status=Appointment.Status.BOOKED, ends_at__gt=timezone.now()
    )
    AppointmentSlot.objects.filter(appointment__in=upcoming).delete()
    upcoming.update(status=Appointment.Status.CANCELLED)


# Personal data a webhook payload may carry (members.services.member_event_data).
_PERSONAL_EVENT_KEYS = tuple(
    f.event_key for f in profile.PROFILE if f.identifying and f.webhook is not None
)


@transaction.atomic
def member_erase_all(
    *, member: Member, source: str, actor: User | None = None, reason: str = ""
) -> Member:
    """The erasure as the edges (the member's page, the console) run it: the member's
    own record (members.services.member_erase: anonymised, balance written off, who/when/
    why recorded) and the personal data the other apps hold, in one transaction. The
    history stays for accounting, anonymised: the texts of sent mails, staff notes on
    giveaways and rentals and the personal fields of webhook payloads are blanked, and
    pending or held carats are cancelled (the account is closed)."""
    from campaigns.models import Giveaway, HeldCarats, MessageLog, Rental
    from loyalty.kernel.models import WebhookEvent
    from members.services import member_erase

    member = member_erase(member=member, source=source, actor=actor, reason=reason)
    MessageLog.objects.filter(member=member).exclude(subject="", body="").update(
        subject="", body=""
    )
    MessageLog.objects.filter(member=member).exclude(context={}).update(context={})
    Giveaway.objects.filter(member=member).exclude(notes="").update(notes="")
    Rental.objects.filter(member=member).exclude(notes="").update(notes="")
    _client_book_erase(member)
    # No more profiling of the person (the next nightly run would drop it too).
    MemberPrediction.objects.filter(member=member).delete()
    _questionnaire_erase(member)
    HeldCarats.objects.filter(
        member=member, status__in=[HeldCarats.Status.HELD, HeldCarats.Status.PENDING]
    ).update(status=HeldCarats.Status.CANCELLED, decided_by=actor, decided_at=timezone.now())
    # Only the profile events carry names and addresses (member_event_data).
    profile_events = WebhookEvent.objects.filter(
        member_id=member.pk, type__in=("member.created", "member.updated")
    )
    for event in profile_events.only("pk", "data"):
        data = event.data if isinstance(event.data, dict) else {}
        if any(data.get(key) for key in _PERSONAL_EVENT_KEYS):
            scrubbed = {k: (None if k in _PERSONAL_EVENT_KEYS else v) for k, v in data.items()}
            WebhookEvent.objects.filter(pk=event.pk).update(data=scrubbed)
    return member
