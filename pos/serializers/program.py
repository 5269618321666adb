"""The program: its tiers and the events (actions) it rewards."""

from rest_framework import serializers

from campaigns.models import ActionType

from .base import (
    NamedChoiceField,
    StrictCharField,
    StrictIntegerField,
    StrictMemberCodeField,
    StrictSerializer,
)
from .sales import _LineListSerializer


class TierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    threshold = serializers.IntegerField(help_text="Qualifying carats over 12 months to reach it.")
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    benefits = serializers.CharField()


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

    member = StrictMemberCodeField(
        help_text="The member number or the scanned QR payload (CARAT1:…)."
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
