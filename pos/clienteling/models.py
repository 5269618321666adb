"""The client book's tables (the pos app's models, loaded from pos/models.py)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

SLOT_MINUTES = 15  # appointments start and end on a quarter hour


class StoreClient(models.Model):
    """A member in a store's client book: registered there, or scanned there for a sale
    (buying there puts a member in the book through the sales themselves, see
    pos.clienteling.selectors.client_scope). Written by the services only."""

    class Reason(models.TextChoices):
        REGISTERED = "registered", _("registered at the store")
        SCANNED = "scanned", _("scanned at the store")

    store = models.ForeignKey("pos.Store", on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="store_books")
    reason = models.CharField(max_length=12, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "member"], name="storeclient_unique"),
        ]
        indexes = [models.Index(fields=["member"], name="storeclient_member")]

    def __str__(self):
        return f"{self.member_id} in {self.store_id} ({self.reason})"


class ClientProfile(models.Model):
    """What the associates know of a client beyond the ledger: preferences, sizes, the
    partner's birthday, the client's associate. One per member, made on first write."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="client_profile")
    associate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    metals = models.CharField(_("metals"), max_length=120, blank=True)
    stones = models.CharField(_("stones"), max_length=120, blank=True)
    style = models.CharField(_("style"), max_length=120, blank=True)
    ring_size = models.CharField(_("ring size"), max_length=16, blank=True)
    bracelet_size = models.CharField(_("bracelet size"), max_length=16, blank=True)
    partner_name = models.CharField(_("partner's name"), max_length=80, blank=True)
    partner_birthday = models.DateField(_("partner's birthday"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["associate"], condition=Q(associate__isnull=False), name="clientprof_assoc"
            )
        ]

    def __str__(self):
        return f"client book of {self.member_id}"


class ClientNote(models.Model):
    """An associate's dated note on a client: internal, never shown to the member."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="client_notes")
    store = models.ForeignKey("pos.Store", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(max_length=2000)
    follow_up_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["member", "-created_at"], name="clientnote_member")]

    def __str__(self):
        return f"note {self.pk} on {self.member_id}"


class WishlistItem(models.Model):
    """A piece the client wished for: added at the counter or by the member."""

    class Source(models.TextChoices):
        COUNTER = "counter", _("at the counter")
        ACCOUNT = "account", _("by the client")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="wishlist")
    description = models.CharField(_("piece"), max_length=160)
    sku = models.CharField(_("reference"), max_length=64, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    store = models.ForeignKey(
        "pos.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "-created_at"], name="wishlist_member")]

    def __str__(self):
        return self.description


class Appointment(models.Model):
    """A styling session or private viewing at a store, with an associate."""

    class Purpose(models.TextChoices):
        STYLING = "styling", _("styling session")
        VIEWING = "viewing", _("private viewing")
        FITTING = "fitting", _("fitting or sizing")
        AFTERCARE = "aftercare", _("cleaning or repair")

    class Status(models.TextChoices):
        BOOKED = "booked", _("booked")
        CANCELLED = "cancelled", _("cancelled")

    store = models.ForeignKey("pos.Store", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="appointments")
    associate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["store", "starts_at"], name="appointment_store_day")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="appointment_ends_after"
            )
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} {self.starts_at:%Y-%m-%d %H:%M}"

    def slots(self):
        t = self.starts_at
        while t < self.ends_at:
            yield t
            t += timedelta(minutes=SLOT_MINUTES)


class AppointmentSlot(models.Model):
    """A quarter hour of an associate's time held by a booked appointment. Unique per
    associate and start: two bookings that overlap for one associate cannot both commit,
    whatever the timing (the database refuses the second); a cancellation frees them."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["associate", "starts_at"], name="appointmentslot_associate_once"
            )
        ]
        indexes = [models.Index(fields=["appointment"], name="appointmentslot_appt")]

    def __str__(self):
        return f"{self.associate_id} at {self.starts_at:%Y-%m-%d %H:%M}"


class ClientContact(models.Model):
    """An associate's contact with a client (a call, a message, an e-mail). Each also
    writes a campaigns.MessageLog row, so it shows in the message log and counts for the
    weekly mail cap; an e-mail is sent by the dispatcher like any marketing mail."""

    class Channel(models.TextChoices):
        CALL = "call", _("call")
        MESSAGE = "message", _("message")
        EMAIL = "email", _("e-mail")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="client_contacts")
    store = models.ForeignKey("pos.Store", on_delete=models.PROTECT, related_name="+")
    associate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    reason = models.CharField(max_length=24, blank=True)
    note = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(
        "campaigns.MessageLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["member", "-created_at"], name="clientcontact_member")]

    def __str__(self):
        return f"{self.channel} {self.member_id} {self.created_at:%Y-%m-%d}"


class RedemptionRequest(models.Model):
    """A redemption the associate asked the client to confirm on their phone (their
    account page was open). Carats move only when the client confirms; the request lapses
    after a few minutes (pos.clienteling.confirm)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for the client")
        CONFIRMED = "confirmed", _("confirmed by the client")
        DECLINED = "declined", _("declined by the client")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    reward = models.ForeignKey("campaigns.Reward", on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey("pos.Store", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    once = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    voucher_code = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "-created_at"], name="redemptionreq_member")]

    def __str__(self):
        return f"{self.reward_id} for {self.member_id} ({self.status})"
