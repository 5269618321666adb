"""REST API v1 and its documentation (OpenAPI 3 schema, Swagger UI, Redoc).

The schema and the docs are public (no key needed); they are static descriptions and the
UIs are served from the installed sidecar, so they work offline."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import api

app_name = "api"

_public = {"authentication_classes": [], "permission_classes": []}

urlpatterns = [
    path("api/v1/members/", api.MemberCreateView.as_view(), name="member-create"),
    path("api/v1/members/lookup/", api.MemberLookupView.as_view(), name="member-lookup"),
    path(
        "api/v1/members/by-external-id/<path:external_id>/",
        api.MemberByExternalIdView.as_view(),
        name="member-by-external-id",
    ),
    path("api/v1/members/<str:number>/", api.MemberDetailView.as_view(), name="member-detail"),
    path(
        "api/v1/members/<str:number>/ledger/",
        api.MemberLedgerView.as_view(),
        name="member-ledger",
    ),
    path(
        "api/v1/members/<str:number>/rewards/",
        api.MemberRewardListView.as_view(),
        name="member-rewards",
    ),
    path(
        "api/v1/members/<str:number>/redemptions/",
        api.MemberRedemptionCreateView.as_view(),
        name="member-redemptions",
    ),
    path(
        "api/v1/members/<str:number>/vouchers/",
        api.MemberVoucherListView.as_view(),
        name="member-vouchers",
    ),
    path("api/v1/members/<str:number>/clubs/", api.MemberClubsView.as_view(), name="member-clubs"),
    path("api/v1/events/", api.EventCreateView.as_view(), name="event-create"),
    path("api/v1/vouchers/<str:code>/", api.VoucherDetailView.as_view(), name="voucher-detail"),
    path(
        "api/v1/vouchers/<str:code>/redeem/",
        api.VoucherRedeemView.as_view(),
        name="voucher-redeem",
    ),
    path(
        "api/v1/vouchers/<str:code>/cancel/",
        api.VoucherCancelView.as_view(),
        name="voucher-cancel",
    ),
    path("api/v1/purchases/", api.PurchaseCreateView.as_view(), name="purchase-create"),
    path("api/v1/returns/", api.ReturnCreateView.as_view(), name="return-create"),
    path("api/v1/tiers/", api.TierListView.as_view(), name="tier-list"),
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
