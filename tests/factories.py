from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import ActionRule, Program
from members.models import Member, User
from pos.models import ExchangeRate, Store
from tiers.models import Tier


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("pw-for-tests-1")


class MemberFactory(factory.django.DjangoModelFactory):
    """A bare member row; use campaigns.services.member_enroll for the full flow."""

    class Meta:
        model = Member

    member_number = factory.Sequence(lambda n: f"{n:010d}")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = "antwerp"
    name = "Carat Antwerp"
    city = "Antwerp"
    currency = "EUR"


def make_program(*, carats_per_eur="1", signup_bonus=0):
    Program.objects.update_or_create(pk=1, defaults={"carats_per_eur": Decimal(carats_per_eur)})
    if signup_bonus:
        ActionRule.objects.create(
            name="Welcome",
            action="signup",
            carats=signup_bonus,
            starts_at=timezone.now() - timedelta(days=1000),
        )
    tiers = {}
    for code, name, rank, threshold, disc, mult, public, invite in [
        ("radiant", "Radiant", 1, 0, "5", "1", True, False),
        ("marquise", "Marquise", 2, 500, "10", "1", True, False),
        ("emerald", "Emerald", 3, 1500, "15", "1", True, False),
        ("ambassador", "Ambassador", 4, 0, "20", "1", False, True),
    ]:
        tiers[code], _ = Tier.objects.update_or_create(
            code=code,
            defaults=dict(
                name=name,
                rank=rank,
                threshold=threshold,
                discount_percent=Decimal(disc),
                earn_multiplier=Decimal(mult),
                public=public,
                invite_only=invite,
            ),
        )
    return tiers


def make_rate(currency, rate, *, days_ago=400):
    return ExchangeRate.objects.create(
        currency=currency,
        rate_to_eur=Decimal(rate),
        valid_from=timezone.now() - timedelta(days=days_ago),
    )
