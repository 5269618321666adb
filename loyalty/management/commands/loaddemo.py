"""Load the demo program: the Diamond Club, three stores, rates, demo logins and a few
hundred members with a year of purchases. Idempotent: running it again changes nothing."""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from campaigns.models import (
    ActionRule,
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
from loyalty.kernel import roles
from loyalty.kernel.roles import role_grant, roles_apply
from members.models import Member, User
from pos.models import Channel, ExchangeRate, Store
from pos.services import purchase_record
from tiers.models import Tier

DEMO_PASSWORD = "carat-demo"  # noqa: S105 - documented demo password, refused unless DEBUG

TIERS = [
    (
        "radiant",
        "Radiant",
        1,
        0,
        "5",
        "1",
        True,
        False,
        "#c9a96e",
        "5% off every purchase\nBirthday surprise\nEarly news of new collections",
    ),
    (
        "marquise",
        "Marquise",
        2,
        500,
        "10",
        "1.25",
        True,
        False,
        "#8e6fb5",
        "10% off every purchase\n1.25 carats per EUR\nFree engraving\nBirthday surprise",
    ),
    (
        "emerald",
        "Emerald",
        3,
        1500,
        "15",
        "1.5",
        True,
        False,
        "#2e8b57",
        "15% off every purchase\n1.5 carats per EUR\nPrivate shopping hours\nFree cleaning and resizing",
    ),
    (
        "ambassador",
        "Ambassador",
        4,
        0,
        "20",
        "2",
        False,
        True,
        "#1d1d1f",
        "20% off\nVIP services and events\nProduct rental for brand events\nA free piece for each giveaway you host",
    ),
]
REWARDS = [
    ("EUR 25 voucher", "amount", 500, "25", None, [], "On any purchase in store or online."),
    ("Free jewelry cleaning and check", "product", 300, "0", None, [], "In any of our stores."),
    (
        "15% off your next piece",
        "percent",
        1200,
        "15",
        None,
        ["marquise", "emerald", "ambassador"],
        "One piece, any collection.",
    ),
    (
        "Private evening at the atelier",
        "experience",
        2500,
        "0",
        20,
        ["emerald", "ambassador"],
        "Meet our designers, for two.",
    ),
    (
        "Rent a piece for your event",
        "experience",
        1000,
        "0",
        10,
        ["ambassador"],
        "For brand events and shoots.",
    ),
]
CLUBS = [
    (
        "Bridal Circle",
        2000,
        "Early access to new engagement collections\nFree engraving\nA private fitting",
        "For brides and grooms to be.",
    ),
    (
        "Collectors' Club",
        2000,
        "First look at limited editions\nInvitations to launch evenings",
        "For those who collect our pieces.",
    ),
]
ACTIONS = [
    ("signup", "Welcome to the club", 100, {}),
    ("profile_completed", "Complete your profile", 50, {}),
    ("sms_opt_in", "Text message opt-in", 25, {}),
    ("review", "Product review", 20, {"max_per_member": 100, "cap_period": "month"}),
    (
        "review_photo",
        "Product review with a photo",
        40,
        {"max_per_member": 200, "cap_period": "month"},
    ),
    ("social_follow", "Follow us on social media", 25, {}),
    (
        "referral_referrer",
        "A friend's first purchase",
        200,
        {"max_per_member": 2000, "cap_period": "year", "once_per_reference": True},
    ),
    ("referral_friend", "Welcome from a friend", 50, {}),
    ("ugc", "Your photos with our jewelry", 50, {"max_per_member": 200, "cap_period": "month"}),
    ("event_attendance", "Brand event attendance", 75, {}),
]
_HELLO = {
    "en": "Dear {{ first_name }},",
    "nl": "Beste {{ first_name }},",
    "fr": "Chère, cher {{ first_name }},",
}
TRIGGERS = [
    (
        "welcome",
        False,
        5,
        1,
        0,
        {
            "en": (
                "Welcome to the Diamond Club: your 100 carats are inside",
                _HELLO["en"]
                + "\n\nWelcome! Your first 100 carats are on your card. Show your QR code at the till: {{ site_url }}/account/",
            ),
            "nl": (
                "Welkom in de Diamond Club: je 100 karaten zitten erin",
                _HELLO["nl"]
                + "\n\nWelkom! Je eerste 100 karaten staan op je kaart. Toon je QR-code aan de kassa: {{ site_url }}/account/",
            ),
            "fr": (
                "Bienvenue au Diamond Club : vos 100 carats sont là",
                _HELLO["fr"]
                + "\n\nBienvenue ! Vos 100 premiers carats sont sur votre carte. Montrez votre QR code en caisse : {{ site_url }}/account/",
            ),
        },
    ),
    (
        "thank_you",
        True,
        20,
        1,
        0,
        {
            "en": (
                "Thank you for your visit, {{ first_name }}: a better discount awaits",
                _HELLO["en"]
                + "\n\nThank you for your purchase. Complete your profile and enjoy a better discount next time: {{ site_url }}/account/profile/"
                + "\n\n{{ challenges }}",
            ),
            "nl": (
                "Bedankt voor je bezoek, {{ first_name }}: een betere korting wacht",
                _HELLO["nl"]
                + "\n\nBedankt voor je aankoop. Vul je profiel aan voor een betere korting de volgende keer: {{ site_url }}/account/profile/",
            ),
        },
    ),
    (
        "service_guarantee",
        False,
        15,
        1,
        0,
        {
            "en": (
                "Your service guarantee is active",
                _HELLO["en"] + "\n\nYour piece is covered by our service guarantee.",
            ),
        },
    ),
    (
        "cart_abandoned",
        True,
        40,
        2,
        0,
        {
            "en": (
                "You left something beautiful in your basket",
                _HELLO["en"] + "\n\nYour basket is waiting for you:\n\n{{ basket }}",
            ),
        },
    ),
    (
        "win_back",
        True,
        30,
        180,
        100,
        {
            "en": (
                "We miss you, {{ first_name }}: 100 carats are waiting in store",
                _HELLO["en"]
                + "\n\nIt has been a while. Come and see our new collection: {{ gift }} are on your card.",
            ),
            "nl": (
                "We missen je, {{ first_name }}: 100 karaten wachten in de winkel",
                _HELLO["nl"]
                + "\n\nHet is even geleden. Kom onze nieuwe collectie ontdekken: {{ gift }} staan op je kaart.",
            ),
        },
    ),
    (
        "birthday_soon",
        True,
        12,
        7,
        0,
        {
            "en": (
                "Your birthday is coming: a surprise is waiting",
                _HELLO["en"] + "\n\nYour birthday is next week. A surprise awaits you in store.",
            ),
        },
    ),
    (
        "birthday",
        True,
        10,
        0,
        0,
        {
            "en": (
                "Happy birthday, {{ first_name }}: a gift is inside",
                _HELLO["en"] + "\n\nHappy birthday! Your birthday surprise is on your card.",
            ),
            "nl": (
                "Gelukkige verjaardag, {{ first_name }}: er zit een cadeau in",
                _HELLO["nl"] + "\n\nGelukkige verjaardag! Je verrassing staat op je kaart.",
            ),
            "fr": (
                "Joyeux anniversaire, {{ first_name }} : un cadeau vous attend",
                _HELLO["fr"] + "\n\nJoyeux anniversaire ! Votre surprise est sur votre carte.",
            ),
        },
    ),
    (
        "wedding",
        True,
        25,
        0,
        0,
        {
            "en": (
                "Your wedding anniversary month: celebrate with us",
                _HELLO["en"] + "\n\nHappy anniversary month.",
            ),
        },
    ),
    (
        "anniversary",
        True,
        35,
        0,
        50,
        {
            "en": (
                "One more year in the Diamond Club: a gift is inside",
                _HELLO["en"] + "\n\nThank you for another year: {{ gift }} are on your card.",
            ),
        },
    ),
    (
        "tier_upgraded",
        False,
        8,
        0,
        0,
        {
            "en": (
                "You are now {{ tier }}",
                _HELLO["en"] + "\n\nCongratulations: you reached {{ tier }}.",
            ),
        },
    ),
    (
        "tier_at_risk",
        True,
        18,
        30,
        0,
        {
            "en": (
                "Keep your {{ tier }} status",
                _HELLO["en"]
                + "\n\nA purchase before {{ tier_deadline }} keeps your {{ tier }} benefits.",
            ),
        },
    ),
]
STORES = [
    ("antwerp", "Carat Antwerp", "Antwerp", "EUR", "Europe/Brussels"),
    ("london", "Carat London", "London", "GBP", "Europe/London"),
    ("geneva", "Carat Geneva", "Geneva", "CHF", "Europe/Zurich"),
]
RATES = {"GBP": "1.170000", "CHF": "1.060000", "USD": "0.920000"}
FIRST = [
    "Emma",
    "Louise",
    "Olivia",
    "Lucas",
    "Noah",
    "Marie",
    "Julie",
    "Lars",
    "Anna",
    "Sofia",
    "Elise",
    "Victor",
    "Camille",
    "Amélie",
    "Charlotte",
    "Mila",
    "Nora",
    "Jules",
    "Lina",
    "Ines",
]
LAST = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Martin",
    "Smith",
    "Brown",
    "Müller",
    "Meyer",
    "Dupont",
    "Leroy",
    "Vermeulen",
]
CATEGORIES = [("RING", "rings"), ("NECK", "necklaces"), ("EAR", "earrings"), ("BRAC", "bracelets")]


DEMO_LOGINS = [
    ("marketing@carat.example", "Marketing Team", roles.MARKETING, []),
    ("shop@carat.example", "Sam Shop", roles.STORE_STAFF, ["antwerp"]),
    ("manager@carat.example", "Morgan Manager", roles.STORE_MANAGER, ["antwerp"]),
    ("integration@carat.example", "Ivo Integration", roles.INTEGRATION_ADMIN, []),
]


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
            stores = self._stores()
            self._logins(stores)
        self._member_history(now, stores)
        self._members(now, stores, members)
        # Trigger e-mails last: the demo's history must not schedule mails of its own.
        self._crm()
        challenges_expire()
        self.stdout.write(self.style.SUCCESS("Demo program loaded."))

    def _program(self, now):
        Program.objects.get_or_create(
            pk=1,
            defaults={
                "name": "Diamond Club",
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
            TriggerConfig.objects.get_or_create(trigger=trigger, defaults=fields)
        seg, created = Segment.objects.get_or_create(
            name="First purchase, no second yet",
            defaults={"description": "The members the brand most wants back."},
        )
        if created:
            SegmentCondition.objects.create(segment=seg, field="one_purchase")
            SegmentCondition.objects.create(segment=seg, field="days_since_min", value="60")

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
                lines=[{"sku": "RING-0042", "category": "rings", "amount": amount}],
                client="demo",
            )

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
            plan = [
                rng.randint(0, joined_days) for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 5]))
            ]
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
                for j, (days, amount, place) in enumerate(zip(plan, amounts, where, strict=True)):
                    store = stores.get(place)
                    purchase_record(
                        member=member,
                        channel=Channel.STORE if store else Channel.ONLINE,
                        store=store,
                        receipt_id=f"DEMO-{i:04d}-{j}",
                        amount=amount,
                        currency=store.currency if store else "EUR",
                        occurred_at=now - timedelta(days=days, hours=rng.randint(0, 8)),
                        lines=[
                            {
                                "sku": f"{rng.choice(CATEGORIES)[0]}-{rng.randint(1, 99):04d}",
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
