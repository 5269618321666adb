"""The product catalog: the ERP's bulk upsert and the list."""

from rest_framework import serializers

from campaigns.services.catalog import MAX_BATCH

from .base import ItemListSerializer, MoneyField, StrictSerializer


class _ProductListSerializer(ItemListSerializer):
    """Product errors as one readable message ("product 2 ...: ...")."""

    item = "product"


class ProductInSerializer(StrictSerializer):
    """One product as the ERP sends it (created or updated by its SKU)."""

    sku = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$", max_length=64)
    name = serializers.CharField(max_length=120, help_text="The name in English.")
    name_nl = serializers.CharField(max_length=120, required=False, allow_blank=True)
    name_fr = serializers.CharField(max_length=120, required=False, allow_blank=True)
    category = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,31}$",
        max_length=32,
        help_text="A category code of the catalog (rings, earrings, necklaces, ...).",
    )
    price = MoneyField(help_text="The shop price, a decimal string.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="Default EUR.")
    image_url = serializers.RegexField(
        r"^https://[A-Za-z0-9][^@/?#\x00-\x20\x7f-\x9f\[\]]*([/?#][^\x00-\x20\x7f-\x9f]*)?$",
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="The picture's address, https:// only.",
    )
    active = serializers.BooleanField(required=False, help_text="Default true.")

    class Meta:
        list_serializer_class = _ProductListSerializer


class ProductBatchSerializer(StrictSerializer):
    products = ProductInSerializer(many=True, max_length=MAX_BATCH)


class ProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    name_nl = serializers.CharField()
    name_fr = serializers.CharField()
    category = serializers.CharField(source="category.code")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    image_url = serializers.CharField()
    active = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class ProductUpsertResultSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField(), help_text="SKUs created.")
    updated = serializers.ListField(child=serializers.CharField(), help_text="SKUs changed.")
    unchanged = serializers.ListField(
        child=serializers.CharField(), help_text="SKUs sent as they already were."
    )
    lines_linked = serializers.IntegerField(
        help_text="Sale lines of these SKUs, sold before the catalog knew them, now linked."
    )


class ProductListQuerySerializer(serializers.Serializer):
    category = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,31}$", required=False)
    after = serializers.CharField(
        max_length=64, required=False, help_text="The last SKU of the previous page."
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BATCH, default=200)

    def to_internal_value(self, data):
        # A parameter sent empty (?category=) is not "not sent": refuse it, as the
        # schema does (DRF would take it for absent).
        empty = {k: "May not be empty." for k in self.fields if k in data and data.get(k) == ""}
        if empty:
            raise serializers.ValidationError(empty)
        return super().to_internal_value(data)
