"""The product catalog: the ERP's bulk upsert by SKU, and the list."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from campaigns.catalog import products_page
from campaigns.services.catalog import products_upsert
from pos.api_auth import INTEGRATION, READ_ONLY, scopes
from pos.serializers.products import (
    ProductBatchSerializer,
    ProductListQuerySerializer,
    ProductSerializer,
    ProductUpsertResultSerializer,
)
from pos.services.catalog import lines_link

from .base import ApiView, errors, parse, rule


class ProductListView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY), put=(INTEGRATION,))

    @extend_schema(
        operation_id="products_list",
        tags=["catalog"],
        summary="The product catalog, by SKU",
        parameters=[ProductListQuerySerializer],
        responses={200: ProductSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        """Products ordered by SKU, a page at a time: pass the last SKU of a page as
        `after` for the next one."""
        query = parse(ProductListQuerySerializer, request.query_params)
        rows = products_page(
            category=query.get("category"), after=query.get("after"), limit=query["limit"]
        )
        return Response(ProductSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="products_upsert",
        tags=["catalog"],
        summary="Create or update products by SKU (the ERP's sync), all or nothing",
        request=ProductBatchSerializer,
        responses={
            200: ProductUpsertResultSerializer,
            **errors(
                400,
                examples=[
                    rule(
                        400,
                        "invalid",
                        "Product 2: unknown category 'shoes' (known: earrings, rings).",
                        "category",
                        name="unknown_category",
                    ),
                    rule(
                        400,
                        "invalid",
                        "Product 3: SKU RING-1 is twice in the batch.",
                        "sku",
                        name="duplicate_sku",
                    ),
                ],
            ),
        },
    )
    def put(self, request):
        """Up to 1,000 products per request (an empty list changes nothing), keyed by SKU: new SKUs are created, known
        ones updated; sending the same batch again changes nothing. One bad product
        refuses the whole batch (its position and reason in the error). Sale lines of
        these SKUs recorded before the catalog knew them are linked to them."""
        data = parse(ProductBatchSerializer, request.data)
        report = products_upsert([dict(p) for p in data["products"]])
        linked = lines_link(report.created + report.updated)
        return Response(
            ProductUpsertResultSerializer(
                {
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "lines_linked": linked,
                }
            ).data
        )
