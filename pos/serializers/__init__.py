"""Serializers of the REST API v1.

Input serializers only parse and shape what clients send (types, required fields, formats);
the services decide what is allowed. Output serializers render what services and selectors
return. Money travels as decimal strings both ways; datetimes carry an offset.

One module per resource: members, sales (purchases and returns), program (tiers and
events), rewards (the catalog and vouchers), clubs; base holds the strict serializer, the
fields and the error shape.
"""

from .base import (
    MAX_ID,
    AwareDateTimeField,
    ErrorDetailSerializer,
    ErrorSerializer,
    MoneyField,
    NamedChoiceField,
    NamedChoiceFieldSchema,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
)
from .clubs import (
    ClubJoinResultSerializer,
    ClubJoinSerializer,
    ClubMembershipSerializer,
    ClubRefSerializer,
    ClubSerializer,
    MemberClubsSerializer,
)
from .members import (
    PENDING_CARATS_HELP,
    ConsentSerializer,
    ConsentsSerializer,
    LedgerEntrySerializer,
    MemberCreateSerializer,
    MemberDetailSerializer,
    MemberLookupQuerySerializer,
    MemberSummarySerializer,
    MemberTierSerializer,
    MemberUpdateSerializer,
    TierProgressSerializer,
    TierRefSerializer,
)
from .program import (
    CART_ABANDONED,
    EVENT_TYPES,
    PROGRAM_ACTIONS,
    BasketLineSerializer,
    EventResultSerializer,
    EventSerializer,
    EventTypeField,
    TierSerializer,
)
from .rewards import (
    RedemptionResultSerializer,
    RedemptionSerializer,
    RewardSerializer,
    VoucherCancelResultSerializer,
    VoucherDetailSerializer,
    VoucherListQuerySerializer,
    VoucherMemberSerializer,
    VoucherRedeemSerializer,
    VoucherSerializer,
)
from .sales import (
    SALE_CHANNELS,
    PurchaseLineSerializer,
    PurchaseResultSerializer,
    PurchaseSerializer,
    ReturnResultSerializer,
    ReturnSerializer,
)

__all__ = [
    "CART_ABANDONED",
    "EVENT_TYPES",
    "MAX_ID",
    "PENDING_CARATS_HELP",
    "PROGRAM_ACTIONS",
    "SALE_CHANNELS",
    "AwareDateTimeField",
    "BasketLineSerializer",
    "ClubJoinResultSerializer",
    "ClubJoinSerializer",
    "ClubMembershipSerializer",
    "ClubRefSerializer",
    "ClubSerializer",
    "ConsentSerializer",
    "ConsentsSerializer",
    "ErrorDetailSerializer",
    "ErrorSerializer",
    "EventResultSerializer",
    "EventSerializer",
    "EventTypeField",
    "LedgerEntrySerializer",
    "MemberClubsSerializer",
    "MemberCreateSerializer",
    "MemberDetailSerializer",
    "MemberLookupQuerySerializer",
    "MemberSummarySerializer",
    "MemberTierSerializer",
    "MemberUpdateSerializer",
    "MoneyField",
    "NamedChoiceField",
    "NamedChoiceFieldSchema",
    "PurchaseLineSerializer",
    "PurchaseResultSerializer",
    "PurchaseSerializer",
    "RedemptionResultSerializer",
    "RedemptionSerializer",
    "ReturnResultSerializer",
    "ReturnSerializer",
    "RewardSerializer",
    "StrictCharField",
    "StrictIntegerField",
    "StrictSerializer",
    "TierProgressSerializer",
    "TierRefSerializer",
    "TierSerializer",
    "VoucherCancelResultSerializer",
    "VoucherDetailSerializer",
    "VoucherListQuerySerializer",
    "VoucherMemberSerializer",
    "VoucherRedeemSerializer",
    "VoucherSerializer",
]
