"""Load the demo program: the Diamond Club, three stores, rates, demo logins and a few
hundred members with a year of purchases. Idempotent: running it again changes nothing."""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from campaigns.mail.defaults import default_texts
from campaigns.models import (
    ActionRule,
    Broadcast,
    Challenge,
    Club,
    EarningRule,
    Program,
    Reward,
    Segment,
    SegmentCondition,
    TriggerConfig,
)
from campaigns.services import challenges_expire, member_enroll
from campaigns.services.rewards import voucher_issue_gift
from loyalty.kernel.roles import role_grant, roles_apply
from loyalty.management.demo_catalog import demo_sku, load_demo_catalog
from loyalty.management.demo_data import (
    ACTIONS,
    CATEGORIES,
    CLUBS,
    DEMO_BROADCAST,
    DEMO_LOGINS,
    DEMO_PASSWORD,
    FIRST,
    LAST,
    RATES,
    REWARDS,
    STORES,
    TIERS,
    TRANSLATIONS,
    TRIGGERS,
)
from members.models import LedgerEntry, Member, User
from members.predictions.services import predictions_run
from pos.models import Channel, ExchangeRate, Store
from pos.services import purchase_record
from pos.services.catalog import popular_refresh
from tiers.models import MemberTier, Tier, TierChange
from tiers.services import hold_end


def _dated_enrolment(member: Member) -> None:
    """The demo's history is dated as it happened: a member who joined months ago got
    the entry tier and the sign-up bonus then, not when the demo was loaded (so the
    dashboard's last 30 days show the last 30 days' carats and tier changes)."""
    at = member.joined_at
    LedgerEntry.objects.filter(member=member).update(created_at=at, occurred_at=at)
    TierChange.objects.filter(member=member).update(changed_at=at)
    MemberTier.objects.filter(member=member).update(reached_at=at, hold_until=hold_end(at))


class Command(BaseCommand):
    help = "Load the demo program, stores, logins and members (idempotent; DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300)

    def handle(self, *args, members, **options):
        if not settings.DEBUG:
            raise CommandError("loaddemo creates logins with a published password: DEBUG only.")
        now = timezone.now()
        with transaction.atomic():
            self._program(now)
            self._catalog(now)
            load_demo_catalog()
            self._translations()
            stores = self._stores()
            self._logins(stores)
        self._member_history(now, stores)
        self._members(now, stores, members)
        # Trigger e-mails last: the demo's history must not schedule mails of its own.
        self._crm()
        challenges_expire()
        # The nightly predictions once now, so the console shows them from the start.
        predictions_run()
        popular_refresh()
        self.stdout.write(self.style.SUCCESS("Demo program loaded."))

    def _program(self, now):
        Program.objects.get_or_create(
            pk=1,
            defaults={
                "name": "Diamond Club",
                "mail_reply_to": "care@carat.example",
                "legal_address": "Carat Jewellery NV · Meir 12, 2000 Antwerpen, Belgium · "
                "VAT BE 0123.456.789",
                "birthday_carats": 150,
                "expiry_policy": "earned",
                "expiry_months": 24,
                "max_store_sales_per_day": 5,
            },
        )
        launch = now - timedelta(days=400)
        for action, name, carats, extra in ACTIONS:
            ActionRule.objects.get_or_create(
                action=action, name=name, defaults={"carats": carats, "starts_at": launch, **extra}
            )
        valentine = now.replace(month=2, day=7, hour=0, minute=0, second=0, microsecond=0)
        if valentine > now:
            valentine = valentine.replace(year=now.year - 1)
        EarningRule.objects.get_or_create(
            name="Double carats for Valentine's week",
            defaults={
                "multiplier": Decimal("2"),
                "starts_at": valentine,
                "ends_at": valentine + timedelta(days=8),
                "priority": 10,
            },
        )
        EarningRule.objects.get_or_create(
            name="x3 on rings in Geneva",
            defaults={
                "multiplier": Decimal("3"),
                "starts_at": launch,
                "store_codes": "geneva",
                "categories": "rings",
                "priority": 20,
                "budget_carats": 200000,
            },
        )
        for code, name, rank, threshold, disc, mult, public, invite, color, benefits in TIERS:
            Tier.objects.get_or_create(
                code=code,
                defaults=dict(
                    name=name,
                    rank=rank,
                    threshold=threshold,
                    discount_percent=Decimal(disc),
                    earn_multiplier=Decimal(mult),
                    public=public,
                    invite_only=invite,
                    color=color,
                    benefits=benefits,
                ),
            )
        start = (now - timedelta(days=800)).replace(hour=0, minute=0, second=0, microsecond=0)
        for currency, rate in RATES.items():
            ExchangeRate.objects.get_or_create(
                currency=currency, valid_from=start, defaults={"rate_to_eur": Decimal(rate)}
            )

    def _catalog(self, now):
        Challenge.objects.get_or_create(
            name="Second sparkle",
            defaults={
                "description": "Come back within 90 days of your first purchase: double carats.",
                "goal": "second_purchase",
                "enrolment": "first_purchase",
                "window_days": 90,
                "reward_multiplier": Decimal("2"),
                "badge": "Second sparkle",
                "starts_at": timezone.now() - timedelta(days=400),
            },
        )
        tiers = {t.code: t for t in Tier.objects.all()}
        for name, kind, cost, value, stock, only, desc in REWARDS:
            reward, created = Reward.objects.get_or_create(
                name=name,
                defaults=dict(
                    kind=kind,
                    cost_carats=cost,
                    value=Decimal(value),
                    stock=stock,
                    description=desc,
                    starts_at=now - timedelta(days=400),
                ),
            )
            if created and only:
                reward.tiers.set([tiers[c] for c in only if c in tiers])
        for name, cost, perks, desc in CLUBS:
            Club.objects.get_or_create(
                name=name, defaults=dict(cost_carats=cost, perks=perks, description=desc)
            )

    def _translations(self):
        """The program's texts in Dutch and French; only empty fields are filled."""
        models = {
            "tier": (Tier, "code"),
            "reward": (Reward, "name"),
            "club": (Club, "name"),
            "challenge": (Challenge, "name"),
            "earningrule": (EarningRule, "name"),
        }
        for (model, key), fields in TRANSLATIONS.items():
            cls, lookup = models[model]
            for obj in cls.objects.filter(**{lookup: key}):
                empty = {f: v for f, v in fields.items() if not getattr(obj, f)}
                if empty:
                    cls.objects.filter(pk=obj.pk).update(**empty)

    def _crm(self):
        for trigger, marketing, priority, offset, gift, texts in TRIGGERS:
            fields = {
                "marketing": marketing,
                "priority": priority,
                "offset_days": offset,
                "gift_carats": gift,
            }
            for lang, (subject, body) in texts.items():
                fields[f"subject_{lang}"], fields[f"body_{lang}"] = subject, body
            # The default texts: the reason and the gift in the subject, in every language.
            fields.update(default_texts(trigger))
            TriggerConfig.objects.get_or_create(trigger=trigger, defaults=fields)
        seg, created = Segment.objects.get_or_create(
            name="First purchase, no second yet",
            defaults={"description": "The members the brand most wants back."},
        )
        if created:
            SegmentCondition.objects.create(segment=seg, field="one_purchase")
            SegmentCondition.objects.create(segment=seg, field="days_since_min", value="60")
            Broadcast.objects.create(name="The new collection", segment=seg, **DEMO_BROADCAST)

    def _stores(self):
        stores = {}
        for code, name, city, currency, tz in STORES:
            stores[code], _ = Store.objects.get_or_create(
                code=code, defaults=dict(name=name, city=city, currency=currency, time_zone=tz)
            )
        return stores

    def _logins(self, stores):
        """One demo login per role (loyalty.kernel.roles), all with the demo password."""
        roles_apply()
        for email, full_name, role, store_codes in DEMO_LOGINS:
            user, created = User.objects.get_or_create(
                email=email, defaults={"full_name": full_name}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            role_grant(user=user, role=role, stores=[stores[c] for c in store_codes])

    def _member_history(self, now, stores):
        user, created = User.objects.get_or_create(
            email="member@carat.example", defaults={"full_name": "Mira Member"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        if Member.objects.filter(email="member@carat.example").exists():
            return
        with transaction.atomic():
            self._demo_member(now, stores, user)

    def _demo_member(self, now, stores, user):
        member = member_enroll(
            email="member@carat.example",
            first_name="Mira",
            last_name="Member",
            birth_date=(now - timedelta(days=365 * 31 - 10)).date(),
            language="en",
            country="BE",
            source=Member.Source.ONLINE,
            email_opt_in=True,
            user=user,
            joined_at=now - timedelta(days=340),
        )
        _dated_enrolment(member)
        for i, (days, store, amount, currency) in enumerate(
            [
                (300, "antwerp", "180.00", "EUR"),
                (120, "london", "95.50", "GBP"),
                (20, None, "49.00", "EUR"),
            ]
        ):
            purchase_record(
                member=member,
                channel=Channel.STORE if store else Channel.ONLINE,
                store=stores[store] if store else None,
                receipt_id=f"DEMO-M-{i}",
                amount=amount,
                currency=currency,
                occurred_at=now - timedelta(days=days),
                now=now - timedelta(days=days),
                lines=[{"sku": "RING-0042", "category": "rings", "amount": amount}],
                client="demo",
            )
        # A gift voucher, so her mails and her card show a voucher the till scans.
        gift = Reward.objects.filter(kind="amount").order_by("pk").first()
        if gift is not None:
            voucher_issue_gift(member=member, reward=gift, source="demo")

    def _members(self, now, stores, count):
        rng = random.Random(42)  # the same demo every time
        existing = set(
            Member.objects.filter(email__endswith="@members.carat.example").values_list(
                "email", flat=True
            )
        )
        for i in range(count):
            email = f"demo{i:04d}@members.carat.example"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            joined_days = rng.randint(20, 360)
            # Oldest first: the history is recorded in the order it happened.
            plan = sorted(
                (rng.randint(0, joined_days) for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 5]))),
                reverse=True,
            )
            amounts = [
                rng.choice(["79.00", "129.00", "249.00", "399.00", "890.00", "1450.00"])
                for _ in plan
            ]
            where = [rng.choice([*stores, "online"]) for _ in plan]
            if email in existing:
                continue
            with transaction.atomic():
                member = member_enroll(
                    email=email,
                    first_name=first,
                    last_name=last,
                    phone=f"+3247{rng.randint(1000000, 9999999)}",
                    language=rng.choice(["en", "nl", "fr"]),
                    country=rng.choice(["BE", "NL", "GB", "CH"]),
                    source=rng.choice([Member.Source.STORE, Member.Source.ONLINE]),
                    email_opt_in=rng.random() < 0.7,
                    joined_at=now - timedelta(days=joined_days),
                    birth_date=(now - timedelta(days=rng.randint(20 * 365, 60 * 365))).date(),
                )
                _dated_enrolment(member)
                for j, (days, amount, place) in enumerate(zip(plan, amounts, where, strict=True)):
                    store = stores.get(place)
                    at = now - timedelta(days=days, hours=rng.randint(0, 8))
                    purchase_record(
                        member=member,
                        channel=Channel.STORE if store else Channel.ONLINE,
                        store=store,
                        receipt_id=f"DEMO-{i:04d}-{j}",
                        amount=amount,
                        currency=store.currency if store else "EUR",
                        occurred_at=at,
                        now=at,  # as it happened: its carats and upgrade dated then
                        lines=[
                            {
                                "sku": demo_sku(rng.choice(CATEGORIES)[0], rng.randint(1, 99)),
                                "category": rng.choice(CATEGORIES)[1],
                                "amount": amount,
                            }
                        ],
                        client="demo",
                    )
        ambassador = Tier.objects.get(code="ambassador")
        first_demo = Member.objects.filter(email="demo0007@members.carat.example").first()
        if first_demo and not first_demo.status.tier.invite_only:
            from tiers.services import tier_invite

            tier_invite(
                member=first_demo,
                tier=ambassador,
                actor=User.objects.get(email="marketing@carat.example"),
                note="Instagram creator, 40k followers (demo)",
            )
