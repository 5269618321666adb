"""Rewards and vouchers: the catalog, redemptions, a member's vouchers, redeeming
and cancelling a voucher."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Reward, Voucher

from .base import (
    MAX_ID,
    NamedChoiceField,
    StrictIntegerField,
    StrictSerializer,
    StrictStoreCodeField,
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
    store = StrictStoreCodeField(
        required=False,
        help_text="Store code where the voucher is accepted. A store's key redeems only for "
        "its own store (the default); without a store, the web shop or ERP is recorded.",
    )


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
