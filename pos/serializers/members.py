"""Members: lookup, create and update, the summary, the detail, the ledger."""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.selectors import pending_carats_for
from members.models import LedgerEntry

from .base import EmailAddressField, MemberCodeField, StrictSerializer, _tier

COUNTRY_MESSAGE = "A 2-letter ISO 3166 country code, e.g. BE."


class MemberLookupQuerySerializer(serializers.Serializer):
    code = MemberCodeField(help_text="The scanned QR payload (CARAT1:…) or a typed member number.")


class _MemberFieldsSerializer(StrictSerializer):
    email = EmailAddressField()
    first_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    country = serializers.CharField(
        max_length=2,
        required=False,
        allow_blank=True,
        validators=[RegexValidator(r"^[A-Za-z]{2}$", message=COUNTRY_MESSAGE)],
        help_text="ISO 3166 code, e.g. BE.",
    )
    external_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The web shop's or ERP's own id for this customer (unique).",
    )
    email_opt_in = serializers.BooleanField(required=False, help_text="Marketing e-mails.")
    sms_opt_in = serializers.BooleanField(required=False, help_text="Text messages.")

    def validate_country(self, value):
        if value and not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise serializers.ValidationError(COUNTRY_MESSAGE)
        return value.upper()


class MemberCreateSerializer(_MemberFieldsSerializer):
    """A new member. Only the e-mail is required; it must not belong to a member yet."""

    referral_code = serializers.CharField(
        max_length=12,
        required=False,
        allow_blank=True,
        help_text="The referral code of the member who invited this one, if any.",
    )


class MemberUpdateSerializer(_MemberFieldsSerializer):
    """The fields to change; fields not sent stay as they are."""

    email = EmailAddressField(required=False)
    wedding_anniversary = serializers.DateField(required=False, allow_null=True)


class MemberTierSerializer(serializers.Serializer):
    """The member's own tier, also a hidden one: the till applies its discount."""

    code = serializers.CharField()
    name = serializers.CharField()
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class TierProgressSerializer(serializers.Serializer):
    next_tier = TierRefSerializer(
        allow_null=True, help_text="The next public tier; null at the top."
    )
    carats_to_next = serializers.IntegerField(allow_null=True)
    qualifying_carats = serializers.IntegerField(
        source="qualifying", help_text="Qualifying carats of the last 12 months."
    )
    percent = serializers.IntegerField(min_value=0, max_value=100)


PENDING_CARATS_HELP = (
    "Carats earned but not on the balance yet: pending until the return window has "
    "passed, or held for a review. Not spendable."
)


class MemberSummarySerializer(serializers.Serializer):
    """What the till shows after a scan."""

    number = serializers.CharField(source="member.member_number")
    first_name = serializers.CharField(source="member.first_name")
    last_name = serializers.CharField(source="member.last_name")
    tier = MemberTierSerializer()
    balance = serializers.IntegerField(source="member.balance")
    pending_carats = serializers.SerializerMethodField(help_text=PENDING_CARATS_HELP)
    progress = TierProgressSerializer()

    @extend_schema_field(OpenApiTypes.INT)
    def get_pending_carats(self, card) -> int:
        if card.pending_carats is not None:
            return card.pending_carats
        return pending_carats_for(card.member)

    def to_representation(self, card):
        # Every scan answers with this body: written out instead of walking the declared
        # fields (they stay for the schema; a test checks both agree).
        m, progress = card.member, card.progress
        nxt = progress.next_tier
        return {
            "number": m.member_number,
            "first_name": m.first_name,
            "last_name": m.last_name,
            "tier": _tier(card.tier),
            "balance": m.balance,
            "pending_carats": self.get_pending_carats(card),
            "progress": {
                "next_tier": {"code": nxt.code, "name": nxt.name} if nxt else None,
                "carats_to_next": progress.carats_to_next,
                "qualifying_carats": progress.qualifying,
                "percent": progress.percent,
            },
        }


class ConsentSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ConsentsSerializer(serializers.Serializer):
    email = ConsentSerializer(help_text="Marketing e-mails.")
    sms = ConsentSerializer(help_text="Text messages.")


class MemberDetailSerializer(serializers.Serializer):
    number = serializers.CharField(source="member.member_number")
    email = serializers.EmailField(source="member.email")
    first_name = serializers.CharField(source="member.first_name")
    last_name = serializers.CharField(source="member.last_name")
    phone = serializers.CharField(source="member.phone")
    birth_date = serializers.DateField(source="member.birth_date", allow_null=True)
    wedding_anniversary = serializers.DateField(
        source="member.wedding_anniversary", allow_null=True
    )
    language = serializers.CharField(source="member.language")
    country = serializers.CharField(source="member.country")
    external_id = serializers.CharField(source="member.external_id", allow_null=True)
    consents = ConsentsSerializer()
    joined_at = serializers.DateTimeField(source="member.joined_at")
    tier = MemberTierSerializer()
    balance = serializers.IntegerField(source="member.balance")
    pending_carats = serializers.SerializerMethodField(help_text=PENDING_CARATS_HELP)
    first_purchase_at = serializers.DateTimeField(
        source="member.first_purchase_at", allow_null=True
    )
    last_purchase_at = serializers.DateTimeField(source="member.last_purchase_at", allow_null=True)
    purchase_count = serializers.IntegerField(source="member.purchase_count")
    lifetime_spend_eur = serializers.DecimalField(
        source="member.lifetime_spend_eur", max_digits=14, decimal_places=2
    )

    @extend_schema_field(OpenApiTypes.INT)
    def get_pending_carats(self, card) -> int:
        return pending_carats_for(card.member)


class LedgerEntrySerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    carats = serializers.IntegerField(help_text="Positive: earned; negative: taken back or spent.")
    balance_after = serializers.IntegerField()
    reason = serializers.CharField()
