"""What every resource's serializers build on: the strict serializer and its plain
fast path, the money, date-time, text and choice fields, the error shape."""

import re
import sys
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from loyalty.kernel.errors import DomainError
from pos.services import parse_amount

# Every number a client sends is bounded here, below what the database holds (a 32-bit
# integer): beyond, a clear 400 instead of the database's range error.
MAX_ID = 2**31 - 1


class StrictSerializer(serializers.Serializer):
    # An input that refuses fields it does not know: a misspelt field is a 400, not
    # silently ignored.

    # ... and values sent as another JSON type than the schema states (DRF's fields would
    # turn 12 into "12", "5" into 5 or 1 into true): see _json_type_ok.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
            not_text = _not_text(self.fields, data)
            if not_text:
                raise serializers.ValidationError(
                    {
                        name: f"Send this as {_expected(self.fields[name])}, "
                        f"not a {_json_type(data[name])}."
                        for name in not_text
                    }
                )
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
        if _not_text(fields, data):
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


def _json_type_ok(field, value) -> bool:
    """Whether `value` has the JSON type the schema states for `field`: DRF's fields
    would also read "12" as a number, 1 as true or 12 as text; the API does not."""
    if isinstance(field, serializers.BooleanField):
        return type(value) is bool
    if isinstance(field, serializers.IntegerField):
        return type(value) is int
    if isinstance(field, serializers.CharField | serializers.DateField | serializers.DateTimeField):
        return type(value) is str
    return True


def _expected(field) -> str:
    if isinstance(field, serializers.BooleanField):
        return "true or false"
    if isinstance(field, serializers.IntegerField):
        return "a whole number"
    return "a JSON string"


def _not_text(fields, data: Mapping) -> list[str]:
    """The names of fields whose value was sent as another JSON type than the schema
    states (null aside: the field itself says whether it takes one)."""
    return [
        name
        for name, value in data.items()
        if value is not None and name in fields and not _json_type_ok(fields[name], value)
    ]


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
            if isinstance(field, serializers.CharField)
            and type(field).to_internal_value is serializers.CharField.to_internal_value
            and type(field).run_validation is serializers.CharField.run_validation
            and field.min_length is None
            and all(type(v) in _TEXT_CHECKS for v in field.validators)
        }
    return _plain[cls]


# A money amount as the API takes it: digits 0-9, at most 2 decimals, above zero, at most
# 9999999999.99 (leading zeros allowed). MoneyField enforces exactly this, the schema
# states it.
AMOUNT_PATTERN = r"^0*([1-9][0-9]{0,9}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
_AMOUNT = re.compile(AMOUNT_PATTERN)


class ItemListSerializer(serializers.ListSerializer):
    """A list's errors as one readable message ("line 2 amount: …") instead of a nested
    list; `item` names an element ("line", "product")."""

    item = "item"

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            # Per-item errors come as {index: {field: errors}} (or a list in older DRF);
            # errors about the list itself as {"non_field_errors": [...]}.
            if isinstance(detail, list):
                detail = dict(enumerate(detail))
            messages = []
            for key, errors in detail.items() if isinstance(detail, dict) else []:
                if isinstance(key, int) and isinstance(errors, dict):
                    messages += [
                        f"{self.item} {key + 1} {f}: {error_text(e)}" for f, e in errors.items()
                    ]
                elif errors:
                    messages.append(error_text(errors))
            raise serializers.ValidationError("; ".join(messages) or error_text(detail)) from None


def error_text(errors) -> str:
    if isinstance(errors, list | tuple):
        return " ".join(str(e) for e in errors)
    return str(errors)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": AMOUNT_PATTERN,
        "example": "129.90",
        "description": "A decimal string above zero with at most 2 decimals, at most "
        "9999999999.99; JSON numbers are refused.",
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
            amount = parse_amount(data, field=self.field_name or "amount")
        except DomainError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None
        if not _AMOUNT.match(data):  # e.g. spaces around it: the documented pattern
            self.fail("invalid")
        return amount

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


# Codes a client can check before sending. A member code is a member number (10 digits,
# typed with spaces or dashes if need be) or a scanned QR payload; anything else finds no
# member (404 unknown_member). A store code is a slug; an unknown one is a 400
# (unknown_store). Both are data too: which codes exist is the program's.
MEMBER_CODE_PATTERN = r"^\s*(CARAT1:[A-Za-z0-9_-]+|[0-9][0-9 -]*)\s*$"
STORE_CODE_PATTERN = r"^\s*[-a-zA-Z0-9_]+\s*$"
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"  # any case: the sale upper-cases it
# An e-mail address as the API takes it (a subset of what Django's EmailValidator takes,
# both enforced): a dot-atom local part, a domain of letters, digits and hyphens.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@"
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 80,
        "pattern": MEMBER_CODE_PATTERN,
        "example": "CARAT1:4yvoMYLVSjFDpjXxx0e0FA",
        "description": "A member number (10 digits with a check digit; spaces and dashes "
        "between groups are ignored) or a scanned QR payload (`CARAT1:` + token). A code "
        "that finds no member answers 404 unknown_member.",
    }
)
class MemberCodeField(serializers.CharField):
    """What a till scans or types to name a member (see MEMBER_CODE_PATTERN)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 80)
        super().__init__(**kwargs)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 16,
        "pattern": STORE_CODE_PATTERN,
        "example": "antwerp",
        "description": "A store code (see the console's stores); an unknown one answers "
        "400 unknown_store.",
    }
)
class StoreCodeField(serializers.CharField):
    """A store's code (see STORE_CODE_PATTERN)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 254,
        "pattern": EMAIL_PATTERN,
        "example": "ann@example.com",
        "description": "An e-mail address.",
    }
)
class EmailAddressField(serializers.EmailField):
    """An e-mail address: Django's check and EMAIL_PATTERN, which the schema states."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(EMAIL_PATTERN, message=self.error_messages["invalid"])
        )


def currency_field(**kwargs) -> serializers.CharField:
    """An ISO 4217 currency code; which ones have a rate is the program's (a code without
    one answers 400 unknown_currency or missing_rate)."""
    return serializers.CharField(
        max_length=3,
        validators=[RegexValidator(CURRENCY_PATTERN, message="A 3-letter ISO code, e.g. EUR.")],
        **kwargs,
    )


class StrictMemberCodeField(StrictCharField, MemberCodeField):
    """A member code that must be sent as a JSON string."""


class StrictStoreCodeField(StrictCharField, StoreCodeField):
    """A store code that must be sent as a JSON string."""


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


# --- Output helpers ---------------------------------------------------------------------


def _money(value) -> str:
    return f"{value:.2f}"


def _tier(tier) -> dict:
    return {"code": tier.code, "name": tier.name, "discount_percent": _money(tier.discount_percent)}
