"""Serializers of the REST API v1.

Input serializers only parse and shape what clients send (types, required fields, formats);
the services decide what is allowed. Output serializers render what services and selectors
return. Money travels as decimal strings both ways; datetimes carry an offset."""

import sys
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from campaigns.models import ActionType, Reward, Voucher
from campaigns.selectors import pending_carats_for
from loyalty.kernel.errors import DomainError
from members.models import LedgerEntry
from pos.models import Purchase
from pos.services import MAX_QUANTITY, parse_amount

SALE_CHANNELS = [("store", "store"), ("online", "web shop")]
# Every number a client sends is bounded here, below what the database holds (a 32-bit
# integer): beyond, a clear 400 instead of the database's range error.
MAX_ID = 2**31 - 1


class StrictSerializer(serializers.Serializer):
    # An input that refuses fields it does not know: a misspelt field is a 400, not
    # silently ignored.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return super().to_internal_value(data)

    @classmethod
    def plain_validated(cls, data) -> dict | None:
        """The validated data of a valid JSON object of plain fields, read with the class's
        declared fields themselves; None when the serializer must read it (then it also
        words the errors): anything invalid, a nested field sent, a class with checks of
        its own.

        DRF deep-copies every declared field for each serializer instance (a fifth of a
        till sale's CPU). A declared field keeps no state while it validates a value that
        was sent, so the class's own instances can read one; what DRF adds around them
        (absent fields, nesting, `validate_<field>` hooks, source paths) is not done here:
        such input falls back. tests/test_serializers_plain.py holds both ways to the same
        results."""
        fields = _plain_fields(cls)
        if fields is None or type(data) is not dict:
            return None
        validated = {}
        text = _plain_text[cls]
        try:
            for name, value in data.items():
                field = fields.get(name)
                if field is None:
                    return None
                limit = text.get(name)
                if (
                    limit is not None
                    and type(value) is str
                    and 0 < len(value) <= limit
                    and value.isascii()
                    and "\x00" not in value
                    and value.strip() == value
                ):
                    # What the CharField returns for it, without its validator calls.
                    validated[name] = value
                    continue
                validated[name] = field.run_validation(value)
        except (serializers.ValidationError, DjangoValidationError, SkipField):
            return None
        if any(f.required and name not in validated for name, f in cls._declared_fields.items()):
            return None
        return validated


_plain: dict[type, dict | None] = {}
# Per class: its plain CharFields whose only checks are DRF's defaults and a max_length ->
# that length (a sys.maxsize without one). A non-blank ASCII string without a NUL or
# surrogates (ASCII has none), sent without surrounding spaces and not too long, is what
# such a field returns unchanged.
_plain_text: dict[type, dict[str, int]] = {}
_TEXT_CHECKS = (
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


def _plain_fields(cls) -> dict | None:
    """The declared fields `plain_validated` may read directly (nested serializers are
    left out: sent, they go to the serializer), or None if the class is not plain."""
    if cls not in _plain:
        meta = getattr(cls, "Meta", None)
        plain = (
            cls.validate is serializers.Serializer.validate
            and cls.to_internal_value is StrictSerializer.to_internal_value
            and cls.run_validation is serializers.Serializer.run_validation
            and not getattr(meta, "validators", None)
        )
        fields = {}
        for name, field in cls._declared_fields.items():
            if isinstance(field, serializers.BaseSerializer):
                continue
            plain = plain and not (
                field.read_only
                or field.default is not empty  # DRF puts it in when the field is absent
                or field.source not in (None, name)
                or hasattr(cls, f"validate_{name}")
                or any(getattr(v, "requires_context", False) for v in field.validators)
            )
            fields[name] = field
        _plain[cls] = fields if plain else None
        _plain_text[cls] = {
            name: sys.maxsize if field.max_length is None else field.max_length
            for name, field in fields.items()
            if type(field) is serializers.CharField
            and field.min_length is None
            and all(type(v) in _TEXT_CHECKS for v in field.validators)
        }
    return _plain[cls]


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

    JSON numbers are refused: a float must never reach the books. The string is checked
    by pos.services.parse_amount, the one amount check of every channel (ASCII digits, a
    dot, at most 2 decimals, positive, at most 9999999999.99), and becomes a Decimal."""

    default_error_messages = {
        "number": 'Send amounts as decimal strings, e.g. "129.90", not as JSON numbers.',
        "invalid": 'Send amounts as decimal strings, e.g. "129.90".',
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str):
            self.fail("number" if isinstance(data, int | float) else "invalid")
        try:
            return parse_amount(data, field=self.field_name or "amount")
        except DomainError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None

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


class StrictCharField(serializers.CharField):
    """A string that must be sent as a JSON string: a JSON number is refused rather than
    turned into text (a reference of 12 and one of 12.0 would be different strings)."""

    default_error_messages = {"not_a_string": "Send this as a JSON string, not a {type}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string", type=_json_type(data))
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An id sent as a JSON integer: strings, decimals and booleans are refused."""

    default_error_messages = {"not_an_integer": "Send a whole number, e.g. 12, not a {type}."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer", type=_json_type(data))
        return super().to_internal_value(data)


class NamedChoiceField(serializers.ChoiceField):
    """A choice documented as one named enum component of the schema, the same wherever
    the field is used (e.g. a reward's and a voucher's kind are both RewardKindEnum)."""

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldSchema(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def get_name(self):
        return self.target.enum_name

    def map_serializer_field(self, auto_schema, direction):
        choices = self.target.choices
        return {
            "type": "string",
            "enum": list(choices),
            "description": "\n".join(f"* `{value}` - {label}" for value, label in choices.items()),
        }


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return "null" if value is None else type(value).__name__


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
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)
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
        help_text="When the sale happened, ISO 8601 with offset; default now. At most a few "
        "minutes ahead (CARAT_FUTURE_TOLERANCE_MINUTES) and at most CARAT_SALE_MAX_AGE_DAYS "
        "back for a till's key (CARAT_SALE_MAX_AGE_DAYS_INTEGRATION for an integration's); "
        "older history goes through the import.",
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


def _money(value) -> str:
    return f"{value:.2f}"


def _tier(tier) -> dict:
    return {"code": tier.code, "name": tier.name, "discount_percent": _money(tier.discount_percent)}


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

    def to_representation(self, result):
        # Every till sale answers with this body: written out instead of walking the
        # declared fields (they stay for the schema; a test checks both agree).
        p = result.purchase
        return {
            "carats_awarded": result.carats_awarded,
            "carats_status": p.carats_status,
            "balance": result.balance,
            "amount_eur": _money(p.amount_eur),
            "tier": _tier(result.tier),
            "tier_changed": result.tier_changed,
            "receipt_id": p.receipt_id,
            "member": p.member.member_number,
        }


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


# --- The program engine: events, rewards, vouchers, clubs ---------------------------------

# Actions the program awards by itself (enrolment, profile, referrals). Reporting them from
# outside would pay the same bonus again under another reference, so the API refuses them.
PROGRAM_ACTIONS = frozenset(
    {
        ActionType.SIGNUP,
        ActionType.PROFILE_COMPLETED,
        ActionType.SMS_OPT_IN,
        ActionType.REFERRAL_REFERRER,
        ActionType.REFERRAL_FRIEND,
    }
)
CART_ABANDONED = "cart_abandoned"
EVENT_TYPES = [
    (value, label) for value, label in ActionType.choices if value not in PROGRAM_ACTIONS
] + [(CART_ABANDONED, "basket left in the web shop (schedules the basket e-mail)")]


class EventTypeField(NamedChoiceField):
    """One of the action types a client may report (see EVENT_TYPES)."""

    def __init__(self, **kwargs):
        known = ", ".join(value for value, _label in EVENT_TYPES)
        kwargs.setdefault(
            "error_messages",
            {
                "invalid_choice": f'Unknown event type "{{input}}"; send one of: {known}.',
                "not_a_string": "Send the event type as a JSON string.",
                "program_action": '"{input}" is awarded by the program itself and cannot be '
                "reported.",
            },
        )
        super().__init__(choices=EVENT_TYPES, enum_name="EventTypeEnum", **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if data in PROGRAM_ACTIONS:
            self.fail("program_action", input=data)
        return super().to_internal_value(data)


class BasketLineSerializer(StrictSerializer):
    sku = StrictCharField(max_length=64)
    name = StrictCharField(max_length=120, required=False)
    quantity = StrictIntegerField(min_value=1, max_value=1000, required=False)

    class Meta:
        list_serializer_class = _LineListSerializer


class EventSerializer(StrictSerializer):
    """Something a member did that the program may reward (a review, a follow, a visit to
    a brand event, ...)."""

    member = StrictCharField(
        max_length=80, help_text="The member number or the scanned QR payload (CARAT1:…)."
    )
    type = EventTypeField(help_text="What the member did.")
    reference = StrictCharField(
        max_length=120,
        help_text="What it was about, e.g. the review or product id. One reward per member, "
        "type and reference: sending it again returns the first result.",
    )
    lines = BasketLineSerializer(
        many=True,
        required=False,
        max_length=100,
        help_text="For cart_abandoned: what is in the basket (shown in the e-mail).",
    )


class RedemptionSerializer(StrictSerializer):
    reward = StrictIntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of the reward (see rewards)."
    )


class VoucherListQuerySerializer(serializers.Serializer):
    status = NamedChoiceField(
        choices=Voucher.Status.choices,
        enum_name="VoucherStatusEnum",
        required=False,
        help_text="Only vouchers in this status.",
    )


class VoucherRedeemSerializer(StrictSerializer):
    store = StrictCharField(
        max_length=16,
        required=False,
        help_text="Store code where the voucher is accepted. A store's key redeems only for "
        "its own store (the default); without a store, the web shop or ERP is recorded.",
    )


class ClubJoinSerializer(StrictSerializer):
    club = StrictIntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of the club (see clubs)."
    )


class EventResultSerializer(serializers.Serializer):
    """The same body for the first result and its replays."""

    carats_awarded = serializers.IntegerField(
        help_text="0 when nothing was given: no active rule for this type, a limit reached, "
        "or already rewarded for this reference (see reason)."
    )
    balance = serializers.IntegerField(
        help_text="The member's balance right after the carats were awarded (now, if none)."
    )
    reason = serializers.CharField(help_text="Why these carats, or why none.")
    type = serializers.CharField()
    reference = serializers.CharField()


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reward.pk")
    name = serializers.CharField(source="reward.name")
    description = serializers.CharField(source="reward.description")
    kind = NamedChoiceField(
        source="reward.kind", choices=Reward.Kind.choices, enum_name="RewardKindEnum"
    )
    cost_carats = serializers.IntegerField(source="reward.cost_carats")
    value = serializers.DecimalField(
        source="reward.value",
        max_digits=10,
        decimal_places=2,
        help_text="EUR off for an amount voucher, percent off for a percent voucher.",
    )
    stock_left = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    affordable = serializers.BooleanField(help_text="The member's balance covers the cost.")


class VoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    kind = NamedChoiceField(choices=Reward.Kind.choices, enum_name="RewardKindEnum")
    value = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        help_text="EUR off for an amount voucher, percent off for a percent voucher.",
    )
    status = NamedChoiceField(
        choices=Voucher.Status.choices,
        enum_name="VoucherStatusEnum",
        help_text="issued (still usable until valid_until), used or cancelled.",
    )
    issued_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    used_at = serializers.DateTimeField(allow_null=True)


class VoucherMemberSerializer(serializers.Serializer):
    number = serializers.CharField(source="member_number")
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class VoucherDetailSerializer(VoucherSerializer):
    """What a till checks before accepting a voucher."""

    usable = serializers.SerializerMethodField(
        help_text="Issued and not expired: it can be redeemed now."
    )
    used_where = serializers.CharField(help_text="Store code or API client that redeemed it.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    member = VoucherMemberSerializer(help_text="Whose voucher it is.")

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_usable(self, voucher) -> bool:
        return voucher.status == Voucher.Status.ISSUED and voucher.valid_until > timezone.now()


class RedemptionResultSerializer(serializers.Serializer):
    voucher = VoucherSerializer()
    balance = serializers.IntegerField(help_text="The member's balance right after the debit.")


class VoucherCancelResultSerializer(serializers.Serializer):
    voucher = VoucherDetailSerializer()
    carats_refunded = serializers.IntegerField(
        source="voucher.cost_carats", help_text="Back on the balance (0 for a gift voucher)."
    )
    balance = serializers.IntegerField(help_text="The member's balance right after the refund.")


class ClubRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class ClubSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="club.pk")
    name = serializers.CharField(source="club.name")
    description = serializers.CharField(source="club.description")
    perks = serializers.SerializerMethodField(help_text="One perk per item.")
    cost_carats = serializers.IntegerField(source="club.cost_carats")
    duration_days = serializers.IntegerField(source="club.duration_days")
    affordable = serializers.BooleanField(help_text="The member's balance covers the cost.")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_perks(self, offer) -> list[str]:
        return [line.strip() for line in offer.club.perks.splitlines() if line.strip()]


class ClubMembershipSerializer(serializers.Serializer):
    club = ClubRefSerializer()
    started_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class MemberClubsSerializer(serializers.Serializer):
    clubs = ClubSerializer(many=True, help_text="Clubs open to the member: join or renew.")
    memberships = ClubMembershipSerializer(
        many=True,
        help_text="Paid periods not over yet, in order (a renewal starts when the current "
        "period ends).",
    )


class ClubJoinResultSerializer(ClubMembershipSerializer):
    carats_paid = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="The member's balance right after the debit.")
