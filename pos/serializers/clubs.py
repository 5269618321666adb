"""Clubs: the catalog, a member's memberships, joining."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .base import MAX_ID, StrictIntegerField, StrictSerializer


class ClubJoinSerializer(StrictSerializer):
    club = StrictIntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of the club (see clubs)."
    )


class ClubRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class ClubSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="club.pk")
    name = serializers.CharField(source="club.name")
    description = serializers.CharField(source="club.description")
    perks = serializers.SerializerMethodField(help_text="One perk per item.")
    cost_carats = serializers.IntegerField(source="club.cost_carats")
    duration_days = serializers.IntegerField(source="club.duration_days")
    affordable = serializers.BooleanField(help_text="The member's balance covers the cost.")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_perks(self, offer) -> list[str]:
        return [line.strip() for line in offer.club.perks.splitlines() if line.strip()]


class ClubMembershipSerializer(serializers.Serializer):
    club = ClubRefSerializer()
    started_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class MemberClubsSerializer(serializers.Serializer):
    clubs = ClubSerializer(many=True, help_text="Clubs open to the member: join or renew.")
    memberships = ClubMembershipSerializer(
        many=True,
        help_text="Paid periods not over yet, in order (a renewal starts when the current "
        "period ends).",
    )


class ClubJoinResultSerializer(ClubMembershipSerializer):
    carats_paid = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="The member's balance right after the debit.")
