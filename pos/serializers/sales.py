"""Sales and returns: their lines, inputs and results."""

from rest_framework import serializers

from pos.models import Purchase
from pos.services import MAX_QUANTITY

from .base import (
    AwareDateTimeField,
    ItemListSerializer,
    MemberCodeField,
    MoneyField,
    StoreCodeField,
    StrictSerializer,
    _money,
    _tier,
    currency_field,
)
from .members import MemberTierSerializer

SALE_CHANNELS = [("store", "store"), ("online", "web shop")]


class _LineListSerializer(ItemListSerializer):
    """Line errors as one readable message ("line 2 ...: ...")."""

    item = "line"


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

    member = MemberCodeField(help_text="The member number or the scanned QR payload (CARAT1:…).")
    store = StoreCodeField(required=False, help_text="Store code, for a sale in a store.")
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
    currency = currency_field(help_text="ISO 4217 code, e.g. EUR.")
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

    store = StoreCodeField(required=False, help_text="Store code of the original sale.")
    channel = serializers.ChoiceField(
        choices=SALE_CHANNELS, required=False, help_text='"online" for a web shop sale.'
    )
    receipt_id = serializers.CharField(max_length=64, help_text="The receipt id of the sale.")
    return_id = serializers.CharField(
        max_length=64,
        help_text="The return's own id; sending it again returns the first result.",
    )
    amount = MoneyField(help_text='The amount refunded, a decimal string, e.g. "49.90".')


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
