"""Rewards and vouchers: a member's catalog and redemptions, their vouchers, a
voucher's detail, redemption at the till and cancellation."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from campaigns.selectors import (
    balance_after_redemption,
    balance_after_voucher_cancel,
    reward_by_id,
    reward_offers_for,
    vouchers_for_member,
)
from campaigns.services import (
    reward_redeem,
    voucher_by_code,
    voucher_cancel,
    voucher_use,
)
from loyalty.kernel.errors import Forbidden
from members.selectors import (
    member_by_number,
)
from pos.api_auth import (
    INTEGRATION,
    READ_ONLY,
    TILL,
    scopes,
)
from pos.selectors import store_by_code
from pos.serializers import (
    RedemptionResultSerializer,
    RedemptionSerializer,
    RewardSerializer,
    VoucherCancelResultSerializer,
    VoucherDetailSerializer,
    VoucherListQuerySerializer,
    VoucherRedeemSerializer,
    VoucherSerializer,
)

from .base import IDEMPOTENCY_KEY, NUMBER, ApiView, errors, idempotent, parse, request_key

# --- Rewards and vouchers ---------------------------------------------------------------


class MemberRewardListView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_rewards",
        tags=["rewards"],
        summary="The rewards a member may redeem, cheapest first",
        parameters=[NUMBER],
        responses={200: RewardSerializer(many=True), **errors(404)},
    )
    def get(self, request, number):
        """The catalog as this member sees it: active rewards of the member's tier (a
        hidden tier's rewards only for its members), with the stock left and whether the
        balance covers the cost."""
        member = member_by_number(number)
        return Response(RewardSerializer(reward_offers_for(member), many=True).data)


class MemberRedemptionCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="members_redemptions_create",
        tags=["rewards"],
        summary="Spend carats on a reward and issue its voucher",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=RedemptionSerializer,
        responses={
            201: RedemptionResultSerializer,
            200: OpenApiResponse(
                RedemptionResultSerializer,
                description="A replay of the same Idempotency-Key: the first voucher and the "
                "balance right after it; nothing is spent again.",
            ),
            **errors(
                400,
                404,
                409,
                notes={
                    400: "Invalid input, or the member already has this reward as often as "
                    "allowed (limit_reached).",
                    404: "No such member, or the reward is not available to this member "
                    "(unknown_reward).",
                    409: "Not enough carats (insufficient_carats), out of stock "
                    "(out_of_stock), or the Idempotency-Key was used for other data.",
                },
            ),
        },
    )
    def post(self, request, number):
        """Debits the reward's cost, takes one from its stock and issues a voucher; never
        oversold and never below a zero balance. Send an Idempotency-Key so that a retry
        cannot spend twice."""
        member = member_by_number(number)
        data = parse(RedemptionSerializer, request.data)
        reward = reward_by_id(data["reward"])

        def redeem():
            redemption = reward_redeem(
                member=member, reward=reward, request_key=request_key(request)
            )
            voucher = redemption.voucher
            body = {"voucher": voucher, "balance": balance_after_redemption(voucher)}
            return Response(
                RedemptionResultSerializer(body).data,
                status=status.HTTP_201_CREATED if redemption.created else status.HTTP_200_OK,
            )

        payload = {"member": member.member_number, **data}
        return idempotent(request, "members.redemptions.create", payload, redeem)


class MemberVoucherListView(ApiView):
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_vouchers",
        tags=["rewards"],
        summary="A member's vouchers, newest first",
        parameters=[NUMBER, VoucherListQuerySerializer],
        responses={200: VoucherSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, number):
        """Bought and gift vouchers; `?status=issued` for the ones not used or cancelled
        (check valid_until: an issued voucher past it has expired)."""
        member = member_by_number(number)
        query = parse(VoucherListQuerySerializer, request.query_params)
        vouchers = vouchers_for_member(member, status=query.get("status"))
        return Response(VoucherSerializer(vouchers, many=True).data)


VOUCHER_CODE = OpenApiParameter(
    "code",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The voucher code, e.g. VABCDE-FGHJK.",
)


def voucher_place(request, store_code: str | None) -> str:
    """Where a voucher is accepted, and whether this key may say so: a store-bound key
    (a till) only for its own store, which is also the default; other keys name a store
    or are recorded as themselves."""
    bound = request.auth.store
    if store_code:
        if bound is not None and store_code != bound.code:
            raise Forbidden(
                f"This API key may only redeem vouchers for store {bound.code}.",
                code="store_not_allowed",
            )
        return store_by_code(store_code).code
    if bound is not None:
        return bound.code
    return str(request.user)


class VoucherDetailView(ApiView):
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="vouchers_retrieve",
        tags=["rewards"],
        summary="A voucher, for a till to check before accepting it",
        parameters=[VOUCHER_CODE],
        responses={200: VoucherDetailSerializer, **errors(404)},
    )
    def get(self, request, code):
        """Whose voucher it is, what it is worth, its status and until when it is valid
        (`usable` sums it up)."""
        return Response(VoucherDetailSerializer(voucher_by_code(code)).data)


class VoucherRedeemView(ApiView):
    required_scopes = scopes(post=(TILL, INTEGRATION))

    @extend_schema(
        operation_id="vouchers_redeem",
        tags=["rewards"],
        summary="Accept a voucher (once, while valid)",
        parameters=[VOUCHER_CODE, IDEMPOTENCY_KEY],
        request=VoucherRedeemSerializer,
        responses={
            200: VoucherDetailSerializer,
            **errors(
                400,
                403,
                404,
                409,
                notes={
                    403: "A key whose scope does not reach this (scope_not_allowed), or a "
                    "store's key and another store (store_not_allowed).",
                    404: "No voucher has this code (unknown_voucher).",
                    409: "Already used (voucher_used), cancelled (voucher_cancelled) or "
                    "expired (voucher_expired); or the Idempotency-Key was used for other "
                    "data.",
                },
            ),
        },
    )
    def post(self, request, code):
        """Marks the voucher used, once: a second redemption is a 409. A store's key
        redeems for its own store; send an Idempotency-Key to make a retry after a lost
        answer return the first result instead of a 409."""
        data = parse(VoucherRedeemSerializer, request.data)
        where = voucher_place(request, data.get("store"))

        def redeem():
            return Response(VoucherDetailSerializer(voucher_use(code=code, where=where)).data)

        payload = {"code": code.strip().upper(), **data}
        return idempotent(request, "vouchers.redeem", payload, redeem)


class VoucherCancelView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="vouchers_cancel",
        tags=["rewards"],
        summary="Cancel an unused voucher: its carats come back",
        parameters=[VOUCHER_CODE, IDEMPOTENCY_KEY],
        request=None,
        responses={
            200: VoucherCancelResultSerializer,
            **errors(
                403,
                404,
                409,
                notes={
                    403: "Only the web shop's or the ERP's keys (integration) cancel "
                    "vouchers, not a till's (scope_not_allowed); nor an integration key "
                    "bound to a store (store_not_allowed).",
                    404: "No voucher has this code (unknown_voucher).",
                    409: "The voucher was used or cancelled already "
                    "(voucher_not_cancellable); or the Idempotency-Key was used for other "
                    "data.",
                },
            ),
        },
    )
    def post(self, request, code):
        """Refunds the carats paid for the voucher and puts its unit back in stock. Only
        an unused voucher can be cancelled."""
        if request.auth.store is not None:
            raise Forbidden(
                "A store's API key cannot cancel vouchers; the web shop or the ERP can.",
                code="store_not_allowed",
            )

        def cancel():
            voucher = voucher_cancel(voucher=voucher_by_code(code))
            body = {"voucher": voucher, "balance": balance_after_voucher_cancel(voucher)}
            return Response(VoucherCancelResultSerializer(body).data)

        return idempotent(request, "vouchers.cancel", {"code": code.strip().upper()}, cancel)
