"""REST API v1 and its documentation (OpenAPI 3 schema, Swagger UI, Redoc).

The schema and the docs are public (no key needed); they are static descriptions and the
UIs are served from the installed sidecar, so they work offline."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import api

app_name = "api"

_public = {"authentication_classes": [], "permission_classes": []}

# Version 1, under one prefix: a request is matched against the prefix once, then
# against these in order, the tills' calls first (a sale and a scan per customer).
v1 = [
    path("purchases/", api.PurchaseCreateView.as_view(), name="purchase-create"),
    path("members/lookup/", api.MemberLookupView.as_view(), name="member-lookup"),
    path("members/", api.MemberCreateView.as_view(), name="member-create"),
    path(
        "members/by-external-id/<path:external_id>/",
        api.MemberByExternalIdView.as_view(),
        name="member-by-external-id",
    ),
    path("members/<str:number>/", api.MemberDetailView.as_view(), name="member-detail"),
    path(
        "members/<str:number>/ledger/",
        api.MemberLedgerView.as_view(),
        name="member-ledger",
    ),
    path(
        "members/<str:number>/rewards/",
        api.MemberRewardListView.as_view(),
        name="member-rewards",
    ),
    path(
        "members/<str:number>/redemptions/",
        api.MemberRedemptionCreateView.as_view(),
        name="member-redemptions",
    ),
    path(
        "members/<str:number>/vouchers/",
        api.MemberVoucherListView.as_view(),
        name="member-vouchers",
    ),
    path("members/<str:number>/clubs/", api.MemberClubsView.as_view(), name="member-clubs"),
    path("events/", api.EventCreateView.as_view(), name="event-create"),
    path("vouchers/<str:code>/", api.VoucherDetailView.as_view(), name="voucher-detail"),
    path(
        "vouchers/<str:code>/redeem/",
        api.VoucherRedeemView.as_view(),
        name="voucher-redeem",
    ),
    path(
        "vouchers/<str:code>/cancel/",
        api.VoucherCancelView.as_view(),
        name="voucher-cancel",
    ),
    path("returns/", api.ReturnCreateView.as_view(), name="return-create"),
    path("tiers/", api.TierListView.as_view(), name="tier-list"),
    path("products/", api.ProductListView.as_view(), name="product-list"),
]

urlpatterns = [
    path("api/v1/", include(v1)),
    path("api/schema/", SpectacularAPIView.as_view(**_public), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", **_public),
        name="docs",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", **_public),
        name="redoc",
    ),
    # Last: anything else under /api/ is a JSON 404.
    re_path(r"^api/", api.not_found),
]
