"""The thank-you questionnaire's answers (the pos app's models, loaded from pos/models.py).

One answer per purchase (unique): the voucher it grants is given exactly once, however
many times and however fast the link is submitted. Every answer is kept (the member's
history); the latest is the member's current preference."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

RING_SIZES = tuple(range(44, 71))  # EU ring sizes (inner circumference in mm)


class QuestionnaireAnswer(models.Model):
    class BoughtFor(models.TextChoices):
        SELF = "self", _("for myself")
        GIFT = "gift", _("as a gift")

    class Metal(models.TextChoices):
        YELLOW_GOLD = "yellow_gold", _("yellow gold")
        WHITE_GOLD = "white_gold", _("white gold")
        ROSE_GOLD = "rose_gold", _("rose gold")
        PLATINUM = "platinum", _("platinum")
        SILVER = "silver", _("silver")

    class Stone(models.TextChoices):
        DIAMOND = "diamond", _("diamond")
        SAPPHIRE = "sapphire", _("sapphire")
        RUBY = "ruby", _("ruby")
        EMERALD = "emerald", _("emerald")
        PEARL = "pearl", _("pearl")
        NONE = "none", _("no stones")

    class Style(models.TextChoices):
        CLASSIC = "classic", _("classic")
        MODERN = "modern", _("modern")
        VINTAGE = "vintage", _("vintage")
        MINIMAL = "minimal", _("minimalist")

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="questionnaire_answers"
    )
    purchase = models.OneToOneField(
        "pos.Purchase", on_delete=models.PROTECT, related_name="questionnaire_answer"
    )
    answered_at = models.DateTimeField(default=timezone.now)
    language = models.CharField(max_length=8, blank=True)
    satisfaction = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    bought_for = models.CharField(max_length=8, choices=BoughtFor.choices)
    metal = models.CharField(max_length=16, choices=Metal.choices, blank=True)
    stone = models.CharField(max_length=16, choices=Stone.choices, blank=True)
    style = models.CharField(max_length=16, choices=Style.choices, blank=True)
    ring_size = models.PositiveSmallIntegerField(null=True, blank=True)
    partner_birthday = models.DateField(null=True, blank=True)
    wedding_anniversary = models.DateField(null=True, blank=True)
    voucher = models.ForeignKey(
        "campaigns.Voucher", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "pos_questionnaire_answer"
        verbose_name = "questionnaire answer"
        ordering = ["-answered_at", "-pk"]
        indexes = [
            models.Index(fields=["member", "answered_at"], name="qanswer_member"),
            models.Index(fields=["metal"], name="qanswer_metal"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__gte=1, satisfaction__lte=5),
                name="qanswer_satisfaction_1_5",
            ),
            models.CheckConstraint(
                condition=Q(ring_size__isnull=True)
                | Q(ring_size__gte=RING_SIZES[0], ring_size__lte=RING_SIZES[-1]),
                name="qanswer_ring_size",
            ),
        ]

    def __str__(self):
        return f"answer to purchase {self.purchase_id}"
