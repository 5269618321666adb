"""Serializers of the REST API v1.

Input serializers only parse and shape what clients send (types, required fields, formats);
the services decide what is allowed. Output serializers render what services and selectors
return. Money travels as decimal strings both ways; datetimes carry an offset."""

from collections.abc import Mapping

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.models import LedgerEntry
from pos.models import Purchase

SALE_CHANNELS = [("store", "store"), ("online", "web shop")]


class StrictSerializer(serializers.Serializer):
    # An input that refuses fields it does not know: a misspelt field is a 400, not
    # silently ignored.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d+(\.\d{1,2})?$",
        "example": "129.90",
        "description": "A decimal string with at most 2 decimals; JSON numbers are refused.",
    }
)
class MoneyField(serializers.Field):
    """A money amount sent as a decimal string ("129.90").

    JSON numbers are refused: a float must never reach the books. The string is handed to
    the service unchanged, which checks the value (positive, at most 2 decimals)."""

    default_error_messages = {
        "number": 'Send amounts as decimal strings, e.g. "129.90", not as JSON numbers.',
        "invalid": 'Send amounts as decimal strings, e.g. "129.90".',
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str):
            self.fail("number" if isinstance(data, int | float) else "invalid")
        return data

    def to_representation(self, value):
        return str(value)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its offset: a till's local clock time without
    one is ambiguous, so it is refused rather than guessed."""

    default_error_messages = {
        "naive": "Include the time zone offset, e.g. 2025-06-01T14:30:00+02:00.",
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


# --- Errors -------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. invalid, not_found.")
    message = serializers.CharField(help_text="For humans: what is wrong and how to fix it.")
    fields = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Field name -> what is wrong with it (validation errors).",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error of the API has this shape."""

    error = ErrorDetailSerializer()


# --- Inputs -----------------------------------------------------------------------------


class MemberLookupQuerySerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=80, help_text="The scanned QR payload (CARAT1:…) or a typed member number."
    )


class _LineListSerializer(serializers.ListSerializer):
    """Line errors as one readable message ("line 2 amount: …") instead of a nested list."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            # Per-line errors come as {index: {field: errors}} (or a list in older DRF);
            # errors about the list itself as {"non_field_errors": [...]}.
            if isinstance(detail, list):
                detail = dict(enumerate(detail))
            messages = []
            for key, errors in detail.items() if isinstance(detail, dict) else []:
                if isinstance(key, int) and isinstance(errors, dict):
                    messages += [f"line {key + 1} {f}: {_text(e)}" for f, e in errors.items()]
                elif errors:
                    messages.append(_text(errors))
            raise serializers.ValidationError("; ".join(messages) or _text(detail)) from None


def _text(errors) -> str:
    if isinstance(errors, list | tuple):
        return " ".join(str(e) for e in errors)
    return str(errors)


class PurchaseLineSerializer(StrictSerializer):
    """One line of the receipt (optional; kept for campaigns and the member's history)."""

    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, required=False)
    amount = MoneyField(help_text="The line total, a decimal string.")
    service_guarantee = serializers.BooleanField(required=False)

    class Meta:
        list_serializer_class = _LineListSerializer


class PurchaseSerializer(StrictSerializer):
    """A sale: in a store (send `store`) or in the web shop (send `channel: "online"`)."""

    member = serializers.CharField(
        max_length=80, help_text="The member number or the scanned QR payload (CARAT1:…)."
    )
    store = serializers.CharField(
        max_length=16, required=False, help_text="Store code, for a sale in a store."
    )
    channel = serializers.ChoiceField(
        choices=SALE_CHANNELS,
        required=False,
        help_text='"online" for a web shop sale (no store); "store" is implied by a store.',
    )
    receipt_id = serializers.CharField(
        max_length=64,
        help_text="The receipt number; unique per store (or per channel online). "
        "Sending it again returns the first result.",
    )
    amount = MoneyField(help_text='The amount paid, a decimal string, e.g. "129.90".')
    currency = serializers.CharField(max_length=8, help_text="ISO 4217 code, e.g. EUR.")
    occurred_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="When the sale happened, ISO 8601 with offset; default now.",
    )
    lines = PurchaseLineSerializer(many=True, required=False, max_length=500)


class ReturnSerializer(StrictSerializer):
    """A return against a recorded sale, identified by its store (or channel) and receipt."""

    store = serializers.CharField(
        max_length=16, required=False, help_text="Store code of the original sale."
    )
    channel = serializers.ChoiceField(
        choices=SALE_CHANNELS, required=False, help_text='"online" for a web shop sale.'
    )
    receipt_id = serializers.CharField(max_length=64, help_text="The receipt id of the sale.")
    return_id = serializers.CharField(
        max_length=64,
        help_text="The return's own id; sending it again returns the first result.",
    )
    amount = MoneyField(help_text='The amount refunded, a decimal string, e.g. "49.90".')


class _MemberFieldsSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166 code, e.g. BE."
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
            raise serializers.ValidationError("A 2-letter ISO 3166 country code, e.g. BE.")
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

    email = serializers.EmailField(max_length=254, required=False)
    wedding_anniversary = serializers.DateField(required=False, allow_null=True)


# --- Outputs ----------------------------------------------------------------------------


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


class MemberSummarySerializer(serializers.Serializer):
    """What the till shows after a scan."""

    number = serializers.CharField(source="member.member_number")
    first_name = serializers.CharField(source="member.first_name")
    last_name = serializers.CharField(source="member.last_name")
    tier = MemberTierSerializer()
    balance = serializers.IntegerField(source="member.balance")
    progress = TierProgressSerializer()


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
    first_purchase_at = serializers.DateTimeField(
        source="member.first_purchase_at", allow_null=True
    )
    last_purchase_at = serializers.DateTimeField(source="member.last_purchase_at", allow_null=True)
    purchase_count = serializers.IntegerField(source="member.purchase_count")
    lifetime_spend_eur = serializers.DecimalField(
        source="member.lifetime_spend_eur", max_digits=14, decimal_places=2
    )


class LedgerEntrySerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    carats = serializers.IntegerField(help_text="Positive: earned; negative: taken back or spent.")
    balance_after = serializers.IntegerField()
    reason = serializers.CharField()


class PurchaseResultSerializer(serializers.Serializer):
    """The result of a sale; a replay of the receipt returns exactly the same body."""

    carats_awarded = serializers.IntegerField(help_text="The carats this sale earns.")
    carats_status = serializers.ChoiceField(
        source="purchase.carats_status",
        choices=Purchase._meta.get_field("carats_status").choices,
        help_text="credited: on the balance now; pending: credited when the return window "
        "has passed; held: waiting for a review.",
    )
    balance = serializers.IntegerField(help_text="The member's balance right after this sale.")
    amount_eur = serializers.DecimalField(
        source="purchase.amount_eur", max_digits=12, decimal_places=2
    )
    tier = MemberTierSerializer(help_text="The member's tier after the sale.")
    tier_changed = serializers.BooleanField(help_text="This sale moved the member up a tier.")
    receipt_id = serializers.CharField(source="purchase.receipt_id")
    member = serializers.CharField(
        source="purchase.member.member_number", help_text="The member number."
    )


class ReturnResultSerializer(serializers.Serializer):
    """The result of a return; a replay of the return id returns exactly the same body."""

    carats_reversed = serializers.IntegerField(help_text="Taken back from the balance.")
    carats_cancelled = serializers.IntegerField(
        source="ret.carats_cancelled",
        help_text="Pending or held carats of the sale cancelled (never on the balance).",
    )
    carats_unrecovered = serializers.IntegerField(
        source="ret.carats_unrecovered",
        help_text="Carats due back but already spent (the balance never goes below zero).",
    )
    balance = serializers.IntegerField(help_text="The member's balance right after this return.")
    return_id = serializers.CharField(source="ret.return_id")
    receipt_id = serializers.CharField(source="ret.purchase.receipt_id")


class TierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    threshold = serializers.IntegerField(help_text="Qualifying carats over 12 months to reach it.")
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    benefits = serializers.CharField()
