"""The only writers of members' state: registration, profile, consents, QR token, the
carat ledger and the purchase facts that the sales code writes down on the member."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext_noop

from loyalty.kernel.errors import Conflict, DomainError, InsufficientCarats, UnknownMember
from loyalty.kernel.outbox import enqueue
from loyalty.kernel.security import rate_allow
from loyalty.kernel.validators import validate_email_address
from loyalty.kernel.webhooks import emit

from . import codes, profile
from .models import ConsentChange, ErasureRecord, LedgerEntry, Member, User
from .selectors import account_open_to_member_pages
from .wallet.services import wallet_card_changed, wallet_forget

_MAX_CODE_ATTEMPTS = 8


def _normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        if len(email) > 254:
            raise ValidationError("too long")
        validate_email_address(email)
    except ValidationError:
        raise DomainError(
            gettext_noop("A valid e-mail address is required."), field="email"
        ) from None
    return email


@transaction.atomic
def member_register(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    birth_date: date | None = None,
    language: str = "en",
    country: str = "",
    source: str = Member.Source.ONLINE,
    external_id: str | None = None,
    email_opt_in: bool = False,
    sms_opt_in: bool = False,
    user: User | None = None,
    joined_at: datetime | None = None,
) -> Member:
    """Create a member. The e-mail is unique: registering it twice is a Conflict."""
    email = _normalize_email(email)
    if Member.objects.filter(email=email).exists():
        raise Conflict(gettext_noop("A member with this e-mail already exists."), field="email")
    if external_id and Member.objects.filter(external_id=external_id).exists():
        raise Conflict("A member with this external id already exists.", field="external_id")
    now = timezone.now()
    for _attempt in range(_MAX_CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    member_number=codes.new_member_number(),
                    email=email,
                    first_name=first_name.strip(),
                    last_name=last_name.strip(),
                    phone=phone.strip(),
                    birth_date=birth_date,
                    language=language,
                    country=country.upper(),
                    source=source,
                    external_id=external_id or None,
                    email_opt_in=email_opt_in,
                    email_opt_in_at=now if email_opt_in else None,
                    sms_opt_in=sms_opt_in,
                    sms_opt_in_at=now if sms_opt_in else None,
                    user=user,
                    joined_at=joined_at or now,
                )
            break
        except IntegrityError:
            # A concurrent registration of the same e-mail, or (rarely) a random code
            # collision: tell the first apart, retry the second with new codes.
            if Member.objects.filter(email=email).exists():
                raise Conflict(
                    gettext_noop("A member with this e-mail already exists."), field="email"
                ) from None
    else:  # pragma: no cover - 8 collisions of 10^9 random numbers in a row
        raise DomainError("Could not allocate a member number, try again.")
    for channel, granted in (("email", email_opt_in), ("sms", sms_opt_in)):
        if granted:
            ConsentChange.objects.create(
                member=member, channel=channel, granted=True, source=source, changed_at=now
            )
    emit("member.created", member_id=member.pk, data=member_event_data(member))
    return member


def member_event_data(member: Member) -> dict:
    """The member events' payload (members.profile: the fields sent, in their order)."""
    return {f.event_key: getattr(member, f.name) for f in profile.webhook_fields()}


# What member_update changes (members.profile).
PROFILE_FIELDS = profile.names(updatable=True)
# What the erasure blanks; the e-mail is replaced by an address that reaches nobody.
_ERASED_FIELDS = tuple(name for name in profile.names(personal=True) if name != "email")


@transaction.atomic
def member_update(*, member: Member, source: str, **changes) -> Member:
    """Change profile fields and consents; every consent change is recorded with its time."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    now = timezone.now()
    update_fields = ["updated_at"]
    for field, value in changes.items():
        if field in ("email_opt_in", "sms_opt_in"):
            value = bool(value)
            if getattr(member, field) != value:
                setattr(member, field, value)
                setattr(member, f"{field}_at", now)
                update_fields += [field, f"{field}_at"]
                ConsentChange.objects.create(
                    member=member,
                    channel=field.removesuffix("_opt_in"),
                    granted=value,
                    source=source,
                    changed_at=now,
                )
        elif field == "email":
            email = _normalize_email(value)
            if email != member.email:
                if Member.objects.filter(email=email).exclude(pk=member.pk).exists():
                    raise Conflict(
                        gettext_noop("A member with this e-mail already exists."), field="email"
                    )
                member.email = email
                update_fields.append("email")
                # A new address is worth a try: the provider's bounce was about the old one.
                member.email_undeliverable_at, member.email_undeliverable_reason = None, ""
                update_fields += ["email_undeliverable_at", "email_undeliverable_reason"]
        elif field in PROFILE_FIELDS:
            if field == "external_id":
                value = value or None
                if (
                    value
                    and Member.objects.filter(external_id=value).exclude(pk=member.pk).exists()
                ):
                    raise Conflict("Another member has this external id.", field="external_id")
            elif field == "country":
                value = (value or "").strip().upper()
            elif isinstance(value, str):
                value = value.strip()
            setattr(member, field, value)
            update_fields.append(field)
        else:
            raise DomainError(f"Unknown profile field: {field}.", field=field)
    member.save(update_fields=update_fields)
    if len(update_fields) > 1:
        emit(
            "member.updated",
            member_id=member.pk,
            data={
                **member_event_data(member),
                "changed": sorted(set(update_fields) - {"updated_at"}),
            },
        )
    return member


@transaction.atomic
def member_rotate_qr(*, member: Member) -> Member:
    """Issue a new QR token; the old payload stops resolving at once."""
    member.qr_token = codes.new_qr_token()
    member.qr_rotated_at = timezone.now()
    member.save(update_fields=["qr_token", "qr_rotated_at", "updated_at"])
    # The wallet card carries the QR code: re-issue it (pushed after commit).
    wallet_card_changed(member=member)
    return member


def member_lock(member_id: int) -> None:
    """Lock the member's row for a write that is theirs (a redemption, a club, an action
    reward): their writes queue here. An erased member is closed: UnknownMember (404),
    decided on the locked row, so an erasure and a write cannot pass each other."""
    found = (
        Member.objects.select_for_update()
        .filter(pk=member_id, erased_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise UnknownMember()


@dataclass(frozen=True)
class Posting:
    entry: LedgerEntry
    created: bool


def ledger_post(
    *,
    member: Member,
    carats: int,
    kind: str,
    reason: str,
    key: str,
    actor: User | None = None,
    occurred_at: datetime | None = None,
) -> Posting:
    """Append one ledger entry and move the cached balance in the same transaction.

    Exactly once: `key` is unique; a replay (also a concurrent one, which waits on the
    unique index until the first commits) returns the first entry and changes nothing.
    Never negative: the balance moves with a conditional UPDATE (and a CHECK constraint
    backs it), so concurrent debits cannot overdraw between a read and a write.
    """
    if not isinstance(carats, int) or isinstance(carats, bool) or carats == 0:
        raise DomainError("Carats must be a non-zero whole number.", field="carats")
    if kind not in LedgerEntry.Kind.values:
        raise DomainError(f"Unknown ledger kind: {kind}.", field="kind")
    now = timezone.now()
    try:
        with transaction.atomic():
            # The race prevented: two debits reading the same balance and both passing.
            # The conditional UPDATE moves the balance and returns the new one in one trip;
            # a replayed key then fails on the entry's unique index and the savepoint
            # undoes the move.
            balance_after = _move_balance(
                member_id=member.pk, carats=carats, at=now, activity=kind != LedgerEntry.Kind.EXPIRY
            )
            if balance_after is None:
                if Member.objects.filter(pk=member.pk, erased_at__isnull=False).exists():
                    raise UnknownMember()  # erased: the account takes no carats in or out
                raise InsufficientCarats(
                    gettext_noop("Not enough carats: %(n)s needed."),
                    field="carats",
                    params={"n": -carats},
                )
            entry = LedgerEntry.objects.create(
                member_id=member.pk,
                carats=carats,
                kind=kind,
                reason=reason[:255],
                key=key,
                actor=actor,
                balance_after=balance_after,
                occurred_at=occurred_at or now,
                created_at=now,
            )
    except IntegrityError:
        existing = LedgerEntry.objects.filter(key=key).first()
        if existing is None:
            raise
        if existing.member_id != member.pk or existing.carats != carats:
            raise Conflict(
                "This operation was already booked with different data.", code="duplicate_key"
            ) from None
        return Posting(entry=existing, created=False)
    member.balance = entry.balance_after
    carats_changed_emit(
        member=member,
        carats=carats,
        kind=kind,
        reason=entry.reason,
        balance=entry.balance_after,
        key=key,
    )
    return Posting(entry=entry, created=True)


def carats_changed_emit(
    *, member: Member, carats: int, kind: str, reason: str, balance: int, key: str
) -> None:
    """The carats.changed webhook of a new ledger entry (also for entries the sales path
    writes in its own statement), and the wallet card's update (nothing when the card is
    in no phone)."""
    wallet_card_changed(member=member)
    emit(
        "carats.changed",
        member_id=member.pk,
        data={
            "member": member.member_number,
            "carats": carats,
            "kind": kind,
            "reason": reason[:255],
            "balance": balance,
            "key": key,
        },
    )


def _move_balance(*, member_id: int, carats: int, at: datetime, activity: bool) -> int | None:
    """UPDATE ... WHERE balance >= -carats RETURNING balance; None if it would go negative
    or the member is erased (a closed account: no carats move, in either direction)."""
    table = Member._meta.db_table
    activity_sql = "last_activity_at = %s," if activity else ""
    params = [at] if activity else []
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {table} SET {activity_sql} balance = balance + %s "  # noqa: S608
            "WHERE id = %s AND balance >= %s AND erased_at IS NULL RETURNING balance",
            [*params, carats, member_id, -carats],
        )
        row = cur.fetchone()
    return row[0] if row else None


def ledger_adjust(*, member: Member, carats: int, reason: str, actor: User, key: str) -> Posting:
    """A manual correction by marketing: a new entry, never an edit."""
    if not reason.strip():
        raise DomainError("Say why the carats are adjusted.", field="reason")
    return ledger_post(
        member=member,
        carats=carats,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        reason=reason.strip(),
        key=key,
        actor=actor,
    )


def member_record_purchase_facts(
    *, member: Member, occurred_at: datetime, amount_eur: Decimal, count: int
) -> None:
    """Write the purchase facts down on the member (called by the sales code, inside its
    transaction). `count` is +1 for a sale; spend moves by `amount_eur` (negative for a
    return)."""
    Member.objects.filter(pk=member.pk).update(
        purchase_count=F("purchase_count") + count,
        lifetime_spend_eur=F("lifetime_spend_eur") + amount_eur,
        first_purchase_at=Least(Coalesce(F("first_purchase_at"), Value(occurred_at)), occurred_at)
        if count
        else F("first_purchase_at"),
        last_purchase_at=Greatest(Coalesce(F("last_purchase_at"), Value(occurred_at)), occurred_at)
        if count
        else F("last_purchase_at"),
    )


def member_account_user(member: Member) -> User:
    """The member's web login; created without a password and waiting for its owner to
    open it from a mailed link, if missing."""
    if member.user_id:
        return member.user
    user = User.objects.filter(email__iexact=member.email).first()
    if user is None:
        user = User(
            email=member.email,
            full_name=member.full_name,
            is_active=False,
            pending_activation=True,
        )
        user.set_unusable_password()
        user.save()
    Member.objects.filter(pk=member.pk).update(user=user)
    member.user = user
    return user


def account_mail(*, user: User, kind: str) -> bool:
    """Queue an account e-mail (verify, invite, claim, existing) after commit -- only to a
    login the member pages may serve (see account_open_to_member_pages), and at most
    CARAT_ACCOUNT_MAILS_PER_HOUR per address, shared with the password-reset mails, so
    nobody can flood a member's inbox through the sign-up form. False when not sent."""
    if not account_open_to_member_pages(user) or not account_mail_allowed(user=user):
        return False
    enqueue("members.send_account_email", user.pk, kind)
    return True


def account_mail_allowed(*, user: User) -> bool:
    """Count one account mail to this login's address; False over the hourly budget."""
    return rate_allow(
        f"account-mail:{user.pk}",
        limit=getattr(settings, "CARAT_ACCOUNT_MAILS_PER_HOUR", 5),
        window=3600,
    )


def member_invite(*, member: Member) -> User:
    """Invite a member (e.g. registered at the counter) to set a password for the web
    account. The e-mail is queued after commit."""
    user = member_account_user(member)
    account_mail(user=user, kind="invite")
    return user


def member_card_mail(*, member: Member) -> bool:
    """Mail the member their card again (the QR code as an image, and the member number):
    transactional, whatever the marketing consent. Queued after commit; at most
    CARAT_ACCOUNT_MAILS_PER_HOUR per member, so a double click (or a script) cannot flood
    the inbox. False when over that budget; an erased member has no address."""
    if member.erased_at is not None:
        raise DomainError(gettext_noop("This member's personal data is erased."))
    if not rate_allow(
        f"card-mail:{member.pk}",
        limit=getattr(settings, "CARAT_ACCOUNT_MAILS_PER_HOUR", 5),
        window=3600,
    ):
        return False
    enqueue("members.send_card_email", member.pk)
    return True


def member_login_reset(*, member: Member) -> str:
    """Mail the member a link to choose a (new) password for the web account: the
    password reset for a login, the invitation when the member has none yet. Returns the
    kind of mail queued ("reset" or "invite"). Never for a staff login or one an
    administrator closed (those change in the logins' admin), nor an erased member."""
    if member.erased_at is not None:
        raise DomainError(gettext_noop("This member's personal data is erased."))
    if member.user_id is None:
        user, kind = member_account_user(member), "invite"
    else:
        user, kind = member.user, "reset"
    if not account_open_to_member_pages(user):
        raise DomainError(
            gettext_noop(
                "This login is closed or belongs to staff: change it under Users, not here."
            )
        )
    if not account_mail(user=user, kind=kind):
        raise DomainError(
            gettext_noop("Enough account e-mails went to this address this hour; try later.")
        )
    return kind


def account_activate(*, user: User) -> bool:
    """Open a login that its owner has just proven the address of (a mailed link). Only a
    login that was never opened: one an administrator deactivated, or a staff login,
    stays as it is (False). A single conditional UPDATE, so no read-then-write race lets
    a login that changed meanwhile through."""
    if user.is_active and not user.pending_activation:
        return True
    opened = User.objects.filter(
        pk=user.pk,
        pending_activation=True,
        is_active=False,
        is_staff=False,
        is_superuser=False,
    ).update(is_active=True, pending_activation=False)
    if opened:
        user.is_active, user.pending_activation = True, False
    return bool(opened)


ERASURE_SOURCES = ("member", "console", "api")


@transaction.atomic
def member_erase(
    *, member: Member, source: str, actor: User | None = None, reason: str = ""
) -> Member:
    """Erasure on request (GDPR): personal data is anonymised; the ledger, sales and
    totals stay for accounting. The account is closed: the carats left are written off
    with a ledger line (the liability drops; the ledger stays append-only), and the member
    earns, spends, is found, refers and is mailed no more (the lookups and writes refuse
    an erased member). The web login is closed. Who erased, when and why is recorded in
    an ErasureRecord, which survives the erasure; staff must say why (`reason`)."""
    if source not in ERASURE_SOURCES:
        raise DomainError(f"Unknown erasure source: {source}.", field="source")
    reason = (reason or "").strip()
    if not reason:
        if source != "member":
            raise DomainError("Say why the data is erased (the request).", field="reason")
        reason = "The member's own request on the account page."
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.erased_at:
        return member
    now = timezone.now()
    written_off = member.balance
    if written_off > 0:
        # Before erased_at is set: afterwards the ledger refuses the account.
        ledger_post(
            member=member,
            carats=-written_off,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            reason="Written off: the member's account was erased.",
            key=f"erasure:{member.pk}",
            actor=actor,
        )
    for channel, granted in (("email", member.email_opt_in), ("sms", member.sms_opt_in)):
        if granted:
            ConsentChange.objects.create(
                member=member,
                channel=channel,
                granted=False,
                source=f"erasure:{source}",
                changed_at=now,
            )
    member.email = f"erased-{member.pk}@erased.invalid"
    for name in _ERASED_FIELDS:
        setattr(member, name, None if Member._meta.get_field(name).null else "")
    member.email_opt_in = member.sms_opt_in = False
    member.email_opt_in_at = member.sms_opt_in_at = now
    member.qr_token = codes.new_qr_token()
    member.erased_at = now
    # The wallet card goes (its devices are answered 401 from now on).
    wallet_forget(member=member)
    member.save()
    if member.user_id:
        User.objects.filter(pk=member.user_id).update(
            is_active=False,
            pending_activation=False,
            email=member.email,
            full_name="",
            password="!",  # noqa: S106
        )
    ErasureRecord.objects.create(
        member=member,
        member_number=member.member_number,
        erased_at=now,
        source=source,
        reason=reason[:255],
        actor=actor,
        actor_email=actor.email if actor else "",
        carats_written_off=max(written_off, 0),
    )
    emit(
        "member.erased",
        member_id=member.pk,
        data={"member": member.member_number, "by": source, "carats_written_off": written_off},
    )
    return member
