"""REST API v1 for tills, the web shop and the ERP: thin edges.

Each view parses its input with an input serializer, calls a service or a selector and
renders the result with an output serializer. Business rules live in the services; their
DomainErrors become JSON errors in loyalty.kernel.api_errors. Only API keys authenticate here
(see settings.REST_FRAMEWORK); member and staff sessions do not.

One module per resource: members, sales (purchases and returns), program (tiers and
events), rewards (the catalog and vouchers), clubs; base holds the view class (with the
sale's lean dispatch), the error documentation, idempotency and the JSON 404.
"""

from .base import (
    LOOKUP_KWARGS,
    ApiView,
    not_found,
)
from .clubs import MemberClubsView
from .members import (
    MemberByExternalIdView,
    MemberCreateView,
    MemberDetailView,
    MemberLedgerView,
    MemberLookupView,
)
from .products import ProductListView
from .program import EventCreateView, TierListView
from .rewards import (
    MemberRedemptionCreateView,
    MemberRewardListView,
    MemberVoucherListView,
    VoucherCancelView,
    VoucherDetailView,
    VoucherRedeemView,
)
from .sales import PurchaseCreateView, ReturnCreateView

__all__ = [
    "LOOKUP_KWARGS",
    "ApiView",
    "EventCreateView",
    "MemberByExternalIdView",
    "MemberClubsView",
    "MemberCreateView",
    "MemberDetailView",
    "MemberLedgerView",
    "MemberLookupView",
    "MemberRedemptionCreateView",
    "MemberRewardListView",
    "MemberVoucherListView",
    "ProductListView",
    "PurchaseCreateView",
    "ReturnCreateView",
    "TierListView",
    "VoucherCancelView",
    "VoucherDetailView",
    "VoucherRedeemView",
    "not_found",
]
