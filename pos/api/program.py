"""The program: its tiers, and the events (actions) it rewards."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from campaigns.selectors import (
    balance_after,
)
from campaigns.services import (
    action_record,
    cart_abandoned,
)
from members.selectors import (
    member_by_code,
)
from pos.api_auth import (
    INTEGRATION,
    READ_ONLY,
    TILL,
    scopes,
)
from pos.serializers import (
    CART_ABANDONED,
    EventResultSerializer,
    EventSerializer,
    TierSerializer,
)
from tiers.selectors import public_tiers

from .base import ApiView, errors, parse

# --- Tiers ------------------------------------------------------------------------------


class TierListView(ApiView):
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="tiers_list",
        tags=["tiers"],
        summary="The public tiers, lowest first",
        responses={200: TierSerializer(many=True), **errors()},
    )
    def get(self, request):
        """The tiers members can reach, with their thresholds, discounts and benefits.
        Invite-only hidden tiers are not listed."""
        return Response(TierSerializer(public_tiers(), many=True).data)


# --- Events (actions the program rewards) ------------------------------------------------


class EventCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="events_create",
        tags=["program"],
        summary="Report something a member did that the program may reward",
        request=EventSerializer,
        responses={
            201: EventResultSerializer,
            200: OpenApiResponse(
                EventResultSerializer,
                description="Nothing new was booked: a replay of the same member, type and "
                "reference (the first result again, carats_awarded as then), or no carats "
                "given (carats_awarded 0: no active rule for this type, a limit reached, or "
                "already rewarded for this reference; reason says which).",
            ),
            **errors(400, 404),
        },
    )
    def post(self, request):
        """A review, a social follow, user content, a visit to a brand event, ... Carats
        come from the active rule for the type, within its limits, at most once per member,
        type and reference. Types the program awards by itself (sign-up, profile,
        referrals) cannot be reported."""
        data = parse(EventSerializer, request.data)
        member = member_by_code(data["member"])
        if data["type"] == CART_ABANDONED:
            return self._basket(member, data)
        result = action_record(member=member, action=data["type"], reference=data["reference"])
        body = {
            "carats_awarded": result.carats,
            "balance": balance_after(result.entry_key, member.pk),
            "reason": result.reason,
            "type": data["type"],
            "reference": data["reference"],
        }
        return Response(
            EventResultSerializer(body).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def _basket(self, member, data):
        """No carats: the basket e-mail is scheduled (sent after the configured delay
        unless the member buys meanwhile). Once per basket reference."""
        scheduled = cart_abandoned(
            member=member, reference=data["reference"], lines=data.get("lines") or []
        )
        body = {
            "carats_awarded": 0,
            "balance": member.balance,
            "reason": "Basket e-mail scheduled." if scheduled else "Nothing new to schedule.",
            "type": data["type"],
            "reference": data["reference"],
        }
        return Response(
            EventResultSerializer(body).data,
            status=status.HTTP_201_CREATED if scheduled else status.HTTP_200_OK,
        )
