"""Clubs: a member's memberships, joining a club."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from campaigns.selectors import (
    balance_after_club_join,
    club_by_id,
    club_memberships_active,
    club_offers_for,
)
from campaigns.services import (
    club_join,
)
from members.selectors import (
    member_by_number,
)
from pos.api_auth import (
    INTEGRATION,
    READ_ONLY,
    scopes,
)
from pos.serializers import (
    ClubJoinResultSerializer,
    ClubJoinSerializer,
    MemberClubsSerializer,
)

from .base import IDEMPOTENCY_KEY, NUMBER, ApiView, errors, idempotent, parse

# --- Clubs ------------------------------------------------------------------------------


class MemberClubsView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY), post=(INTEGRATION,))

    @extend_schema(
        operation_id="members_clubs",
        tags=["clubs"],
        summary="The clubs open to a member and the member's current memberships",
        parameters=[NUMBER],
        responses={200: MemberClubsSerializer, **errors(404)},
    )
    def get(self, request, number):
        """Clubs the member may join or renew (of the member's tier), cheapest first, and
        the paid periods not over yet."""
        member = member_by_number(number)
        body = {"clubs": club_offers_for(member), "memberships": club_memberships_active(member)}
        return Response(MemberClubsSerializer(body).data)

    @extend_schema(
        operation_id="members_clubs_join",
        tags=["clubs"],
        summary="Join or renew a club with carats",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=ClubJoinSerializer,
        responses={
            201: ClubJoinResultSerializer,
            200: OpenApiResponse(
                ClubJoinResultSerializer, description="A replay of the same Idempotency-Key."
            ),
            **errors(
                400,
                404,
                409,
                notes={
                    404: "No such member, or the club is not open to this member (unknown_club).",
                    409: "Not enough carats (insufficient_carats), or the Idempotency-Key "
                    "was used for other data.",
                },
            ),
        },
    )
    def post(self, request, number):
        """Debits the club's cost. A renewal starts when the current period ends, so no
        paid day is lost. Send an Idempotency-Key so that a retry cannot pay twice."""
        member = member_by_number(number)
        data = parse(ClubJoinSerializer, request.data)
        club = club_by_id(data["club"])

        def join():
            membership = club_join(member=member, club=club)
            body = {
                "club": membership.club,
                "started_at": membership.started_at,
                "ends_at": membership.ends_at,
                "carats_paid": membership.carats_paid,
                "balance": balance_after_club_join(membership),
            }
            return Response(ClubJoinResultSerializer(body).data, status=status.HTTP_201_CREATED)

        payload = {"member": member.member_number, **data}
        return idempotent(request, "members.clubs.join", payload, join)
