"""Members: lookup by code, create, detail and update, by external id, the ledger."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from campaigns.services import (
    member_enroll,
    member_profile_rewards,
)
from members.models import Member
from members.selectors import (
    ledger_for_member,
    member_by_external_id,
    member_by_number,
)
from members.services import member_update
from pos.api_auth import (
    INTEGRATION,
    READ_ONLY,
    TILL,
    scopes,
)
from pos.selectors import member_card, member_card_by_code
from pos.serializers import (
    LedgerEntrySerializer,
    MemberCreateSerializer,
    MemberDetailSerializer,
    MemberLookupQuerySerializer,
    MemberSummarySerializer,
    MemberUpdateSerializer,
)

from .base import IDEMPOTENCY_KEY, NUMBER, ApiView, errors, idempotent, parse


class MemberLookupView(ApiView):
    lookup = True  # the code is in the query
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_lookup",
        tags=["members"],
        summary="Find a member by QR payload or member number",
        parameters=[MemberLookupQuerySerializer],
        responses={200: MemberSummarySerializer, **errors(400, 404)},
    )
    def get(self, request):
        """For the till: the member behind a scanned QR code or a typed member number, with
        the tier (whose discount the till applies), the balance and the progress to the
        next public tier."""
        query = parse(MemberLookupQuerySerializer, request.query_params)
        return Response(MemberSummarySerializer(member_card_by_code(query["code"])).data)


class MemberCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="members_create",
        tags=["members"],
        summary="Enrol a member",
        parameters=[IDEMPOTENCY_KEY],
        request=MemberCreateSerializer,
        responses={
            201: MemberDetailSerializer,
            200: OpenApiResponse(
                MemberDetailSerializer, description="A replay of the same Idempotency-Key."
            ),
            **errors(400, 409),
        },
    )
    def post(self, request):
        """Register a member into the program (entry tier, sign-up and referral rewards,
        profile rewards). An e-mail or external id that already belongs to a member is a
        409."""
        data = parse(MemberCreateSerializer, request.data)

        def create():
            member = member_enroll(source=Member.Source.API, **data)
            member_profile_rewards(member=member)
            body = MemberDetailSerializer(member_card(member)).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, "members.create", data, create)


class MemberDetailView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY), patch=(INTEGRATION,))

    @extend_schema(
        operation_id="members_retrieve",
        tags=["members"],
        summary="A member's profile, consents, tier, balance and purchase facts",
        parameters=[NUMBER],
        responses={200: MemberDetailSerializer, **errors(404)},
    )
    def get(self, request, number):
        """The single customer view of one member."""
        member = member_by_number(number)
        return Response(MemberDetailSerializer(member_card(member)).data)

    @extend_schema(
        operation_id="members_update",
        tags=["members"],
        summary="Change a member's profile or consents",
        parameters=[NUMBER],
        request=MemberUpdateSerializer,
        responses={200: MemberDetailSerializer, **errors(400, 404, 409)},
    )
    def patch(self, request, number):
        """Send only the fields to change. Consent changes are recorded with their time
        and source."""
        member = member_by_number(number)
        changes = parse(MemberUpdateSerializer, request.data, partial=True)
        member = member_update(member=member, source=Member.Source.API, **changes)
        member_profile_rewards(member=member)
        return Response(MemberDetailSerializer(member_card(member)).data)


class MemberByExternalIdView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_by_external_id",
        tags=["members"],
        summary="Find a member by the client's own customer id",
        parameters=[
            OpenApiParameter(
                "external_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The web shop's or ERP's id for the customer.",
            )
        ],
        responses={200: MemberDetailSerializer, **errors(404)},
    )
    def get(self, request, external_id):
        """The member the web shop or ERP knows under its own customer id."""
        member = member_by_external_id(external_id)
        return Response(MemberDetailSerializer(member_card(member)).data)


class MemberLedgerView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="members_ledger",
        tags=["members"],
        summary="A member's carat movements, newest first",
        parameters=[NUMBER],
        responses={200: LedgerEntrySerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, number):
        """Every carat movement (purchases, returns, bonuses, redemptions, adjustments),
        newest first, with the balance after each. Paginated with limit and offset."""
        member = member_by_number(number)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(ledger_for_member(member), request, view=self)
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)
