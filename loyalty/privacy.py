"""A member's data, all of it, for the right of access (GDPR art. 15)."""

from members.models import Member


def member_export(member: Member) -> dict:
    """Everything Carat holds about the member, as plain JSON-able data."""
    from campaigns.models import Badge, ClubMembership, MessageLog, Voucher
    from pos.models import Purchase, Return
    from tiers.models import TierChange

    def rows(qs, *fields):
        return [
            {
                f: (
                    v.isoformat()
                    if hasattr(v, "isoformat")
                    else str(v)
                    if v is not None and not isinstance(v, (int, bool, str))
                    else v
                )
                for f, v in zip(fields, values, strict=True)
            }
            for values in qs.values_list(*fields)
        ]

    profile_fields = [
        "member_number",
        "email",
        "first_name",
        "last_name",
        "phone",
        "birth_date",
        "wedding_anniversary",
        "language",
        "country",
        "time_zone",
        "source",
        "external_id",
        "joined_at",
        "email_opt_in",
        "email_opt_in_at",
        "sms_opt_in",
        "sms_opt_in_at",
        "referral_code",
        "balance",
        "first_purchase_at",
        "last_purchase_at",
        "purchase_count",
        "lifetime_spend_eur",
    ]
    (profile,) = rows(Member.objects.filter(pk=member.pk), *profile_fields)
    return {
        "profile": profile,
        "consents": rows(
            member.consent_changes.order_by("changed_at"),
            "channel",
            "granted",
            "source",
            "changed_at",
        ),
        "ledger": rows(
            member.ledger.order_by("created_at", "id"),
            "created_at",
            "kind",
            "carats",
            "balance_after",
            "reason",
        ),
        "purchases": rows(
            Purchase.objects.filter(member=member).order_by("occurred_at"),
            "occurred_at",
            "channel",
            "store__code",
            "receipt_id",
            "amount",
            "currency",
            "amount_eur",
            "carats_awarded",
        ),
        "returns": rows(
            Return.objects.filter(purchase__member=member).order_by("created_at"),
            "created_at",
            "purchase__receipt_id",
            "return_id",
            "amount",
            "carats_reversed",
        ),
        "tier_history": rows(
            TierChange.objects.filter(member=member).order_by("changed_at"),
            "changed_at",
            "from_tier__name",
            "to_tier__name",
            "reason",
        ),
        "vouchers": rows(
            Voucher.objects.filter(member=member).order_by("issued_at"),
            "code",
            "title",
            "status",
            "issued_at",
            "valid_until",
            "used_at",
        ),
        "clubs": rows(
            ClubMembership.objects.filter(member=member),
            "club__name",
            "started_at",
            "ends_at",
            "carats_paid",
        ),
        "badges": rows(Badge.objects.filter(member=member), "name", "earned_at"),
        "messages": rows(
            MessageLog.objects.filter(member=member).order_by("created_at"),
            "trigger",
            "subject",
            "status",
            "sent_at",
            "opened_at",
            "clicked_at",
        ),
    }
