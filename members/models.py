from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import codes
from .folding import Digits, Fold


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A login: marketing staff, shop assistants, and members with a web account."""

    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        verbose_name=_("console access"),
        default=False,
        help_text="May log in to the CRM console (the admin).",
    )
    is_active = models.BooleanField(verbose_name=_("active"), default=True)
    # Set only by the account services when they create a member's login that its owner
    # has not opened yet (sign-up awaiting the e-mail check, a member invited at the till
    # or by the web shop); cleared when the login becomes active. A link mailed to the
    # address may activate such a login -- and no other inactive one: a login that an
    # administrator deactivated (or that never was a member's) has it False, so only an
    # administrator can reactivate it. Never True on an active login (constraint below).
    pending_activation = models.BooleanField(
        _("awaiting the owner's e-mail confirmation"),
        default=False,
        help_text=(
            "A member's login not opened yet: a link mailed to the address may activate "
            "it. Untick to keep it closed."
        ),
    )
    date_joined = models.DateTimeField(verbose_name=_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        constraints = [
            models.CheckConstraint(
                condition=~(Q(is_active=True) & Q(pending_activation=True)),
                name="user_pending_is_inactive",
            )
        ]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Member(models.Model):
    """The single customer view: who the customer is, their consents and purchase facts.

    Purchase facts (first/last purchase, count, spend) are written by the sales code in
    the same transaction as the sale, so lower layers can read them without knowing sales.
    """

    class Source(models.TextChoices):
        STORE = "store", _("store")
        ONLINE = "online", _("online")
        IMPORT = "import", _("import")
        API = "api", _("API")

    # Unique through Meta.constraints: on PostgreSQL a unique=True CharField also gets a
    # LIKE index that no query uses and that every update of the row has to maintain.
    member_number = models.CharField(verbose_name=_("member number"), max_length=10, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("web login"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="member",
        help_text="The web login, if the member has one.",
    )
    email = models.EmailField(_("e-mail"))
    first_name = models.CharField(_("first name"), max_length=80, blank=True)
    last_name = models.CharField(_("last name"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    wedding_anniversary = models.DateField(_("wedding anniversary"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    country = models.CharField(_("country"), max_length=2, blank=True, help_text="ISO 3166 code")
    time_zone = models.CharField(
        verbose_name=_("time zone"), max_length=64, default="Europe/Brussels"
    )
    source = models.CharField(
        verbose_name=_("joined through"),
        max_length=10,
        choices=Source.choices,
        default=Source.ONLINE,
    )
    external_id = models.CharField(
        verbose_name=_("shop or ERP id"),
        max_length=64,
        null=True,
        blank=True,
        help_text="The web shop's or ERP's own id for this customer.",
    )
    joined_at = models.DateTimeField(verbose_name=_("joined"), default=timezone.now, db_index=True)

    email_opt_in = models.BooleanField(_("marketing e-mails"), default=False)
    email_opt_in_at = models.DateTimeField(
        verbose_name=_("e-mail consent since"), null=True, blank=True
    )
    sms_opt_in = models.BooleanField(_("text messages"), default=False)
    # The mail provider reported a hard bounce or a spam complaint for this address: no
    # mail goes to it until the address changes (written by campaigns' deliverability).
    email_undeliverable_at = models.DateTimeField(
        _("e-mail undeliverable since"), null=True, blank=True, editable=False
    )
    email_undeliverable_reason = models.CharField(
        _("why e-mail is undeliverable"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        editable=False,
    )
    sms_opt_in_at = models.DateTimeField(
        verbose_name=_("text message consent since"), null=True, blank=True
    )

    qr_token = models.CharField(
        verbose_name=_("QR code"), max_length=32, default=codes.new_qr_token
    )
    qr_rotated_at = models.DateTimeField(verbose_name=_("QR code renewed"), null=True, blank=True)
    referral_code = models.CharField(
        verbose_name=_("referral code"), max_length=12, default=codes.new_referral_code
    )
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referrals",
    )

    balance = models.IntegerField(verbose_name=_("carats"), default=0, editable=False)
    last_activity_at = models.DateTimeField(
        verbose_name=_("last carats moved"),
        null=True,
        blank=True,
        editable=False,
        help_text="Last carats earned or spent.",
    )

    first_purchase_at = models.DateTimeField(
        verbose_name=_("first purchase"), null=True, blank=True, editable=False
    )
    # Not indexed on purpose: every sale moves it, and an index on it would make each
    # sale's member update a non-HOT update writing all the member's indexes. The date
    # triggers that read it (thank-you, win-back) scan once per hour and zone.
    last_purchase_at = models.DateTimeField(
        verbose_name=_("last purchase"), null=True, blank=True, editable=False
    )
    purchase_count = models.IntegerField(verbose_name=_("orders"), default=0, editable=False)
    lifetime_spend_eur = models.DecimalField(
        verbose_name=_("lifetime spend (EUR)"),
        max_digits=14,
        decimal_places=2,
        default=0,
        editable=False,
    )

    erased_at = models.DateTimeField(
        verbose_name=_("personal data erased"),
        null=True,
        blank=True,
        editable=False,
        help_text="Personal data erased (GDPR).",
    )
    # The member's card is in a phone's wallet (an Apple device registered, or a Google
    # object issued): only then does a change of the card cost the sale anything (see
    # members.wallet.services.wallet_card_changed). Written by the wallet services only.
    # The database default lets bulk loads (the import's and the benchmark's COPY) leave
    # the column out.
    wallet_live = models.BooleanField(
        verbose_name=_("card in a phone wallet"), default=False, db_default=False, editable=False
    )

    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("last changed"), auto_now=True)

    class Meta:
        constraints = [
            # Invariant 2: the database itself refuses a negative balance.
            models.CheckConstraint(condition=Q(balance__gte=0), name="member_balance_non_negative"),
            models.UniqueConstraint(fields=["member_number"], name="member_number_unique"),
            models.UniqueConstraint(fields=["email"], name="member_email_unique"),
            models.UniqueConstraint(fields=["external_id"], name="member_external_id_unique"),
            models.UniqueConstraint(fields=["qr_token"], name="member_qr_token_unique"),
            models.UniqueConstraint(fields=["referral_code"], name="member_referral_code_unique"),
        ]
        indexes = [
            models.Index(fields=["phone"], name="member_phone"),
            models.Index(Upper("last_name"), name="member_last_name_upper"),
            models.Index(Upper("first_name"), name="member_first_name_upper"),
            # The client search at the counter: prefixes of the folded names, e-mail and
            # phone digits (members.folding; members.selectors.client_search).
            models.Index(Fold("last_name"), name="member_last_name_fold"),
            models.Index(Fold("first_name"), name="member_first_name_fold"),
            models.Index(Fold("email"), name="member_email_fold"),
            models.Index(Digits("phone"), name="member_phone_digits"),
        ]

    def __str__(self):
        return f"{self.full_name or self.email} ({self.member_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def qr_payload(self) -> str:
        return codes.qr_payload(self.qr_token)


class LedgerEntry(models.Model):
    """One movement of carats. Append-only: corrections are new entries.

    `occurred_at` is the business time (the sale's time for purchase carats, the original
    sale's time for a return) and drives tier qualification; `created_at` is when it was
    booked.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("purchase")
        RETURN = "return", _("return")
        BONUS = "bonus", _("bonus")
        ACTION = "action", _("action")
        BIRTHDAY = "birthday", _("birthday")
        REDEMPTION = "redemption", _("redemption")
        EXPIRY = "expiry", _("expiry")
        ADJUSTMENT = "adjustment", _("adjustment")
        RETROACTIVE = "retroactive", _("retroactive")

    # No index of its own: ledger_member_created and ledger_member_occurred start with it.
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="ledger",
        db_index=False,
    )
    carats = models.IntegerField(
        verbose_name=_("carats"),
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind.choices)
    reason = models.CharField(verbose_name=_("reason"), max_length=255)
    key = models.CharField(
        verbose_name=_("idempotency key"),
        max_length=128,
        help_text="Idempotency key: one entry per business event (unique).",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # see ledger_actor: only the few entries made by a person
    )
    balance_after = models.IntegerField(
        verbose_name=_("balance after"),
    )
    occurred_at = models.DateTimeField(verbose_name=_("happened"), default=timezone.now)
    created_at = models.DateTimeField(verbose_name=_("booked"), default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["member", "-created_at"], name="ledger_member_created"),
            models.Index(fields=["member", "occurred_at"], name="ledger_member_occurred"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="ledger_actor"),
            models.Index(fields=["created_at"], name="ledger_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(carats=0), name="ledger_carats_non_zero"),
            models.UniqueConstraint(fields=["key"], name="ledger_key_unique"),
        ]

    def __str__(self):
        """For people: "+312 carats — purchase 1042 at Carat Antwerp"."""
        return gettext("%(carats)s carats — %(label)s") % {
            "carats": f"{self.carats:+,}",
            "label": self.label,
        }

    @property
    def label(self) -> str:
        """What the movement was: its reason (of a sale's, the first part: the sales code
        writes "Purchase 1042 at Carat Antwerp: 312 for ..."), after the kind when the
        reason does not start with it."""
        head = self.reason.strip()
        if self.kind == self.Kind.PURCHASE:
            head = head.split(": ", 1)[0]  # the sales code's explanation follows
        kind = str(self.get_kind_display())
        if not head:
            return kind
        # The reasons the code writes are English ("Purchase ..."): the kind's code says it.
        if not head.lower().startswith((kind.lower(), self.kind)):
            head = f"{kind}: {head}"
        return (head[:1].lower() + head[1:])[:120]


class ConsentChange(models.Model):
    """Every change to a marketing consent, with when and through which door."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="consent_changes"
    )
    channel = models.CharField(
        verbose_name=_("channel"), max_length=8, choices=[("email", "e-mail"), ("sms", "SMS")]
    )
    granted = models.BooleanField(
        verbose_name=_("given"),
    )
    source = models.CharField(verbose_name=_("through"), max_length=32)
    changed_at = models.DateTimeField(verbose_name=_("changed"), default=timezone.now)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{self.channel} {'yes' if self.granted else 'no'} {self.changed_at:%Y-%m-%d}"


class ErasureRecord(models.Model):
    """Who erased a member's personal data, when and why (GDPR accountability). Written by
    the erasure itself and kept after it: it holds no personal data of the member, only
    the member number, and the actor's e-mail as it was (a staff login can go later)."""

    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="erasure"
    )
    member_number = models.CharField(verbose_name=_("member number"), max_length=10)
    erased_at = models.DateTimeField(
        verbose_name=_("erased"),
    )
    source = models.CharField(
        verbose_name=_("through"),
        max_length=16,
        help_text="Through which door: the member's page, the console, ...",
    )
    reason = models.CharField(
        verbose_name=_("reason"), max_length=255, help_text="The request: date, channel, reference."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff user who erased; empty when the member erased their own account.",
    )
    actor_email = models.CharField(verbose_name=_("by (e-mail)"), max_length=254, blank=True)
    carats_written_off = models.IntegerField(verbose_name=_("carats written off"), default=0)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self):
        return f"{self.member_number} erased {self.erased_at:%Y-%m-%d}"


# The wallet card's models live with their module (members/wallet) and load with the app.
# The predictions' tables live with their module (members/predictions) too.
from .predictions.tables import (  # noqa: E402, F401
    AmbassadorCandidate,
    MemberPrediction,
    PredictionRun,
)
from .wallet.models import AppleRegistration, WalletPass  # noqa: E402, F401
