"""The authorization matrix: every principal against every page and API operation.

Principals: anonymous, member A (web login), member B (web login), and every console role
of loyalty.kernel.roles: the shop assistant and the store manager of store A (Antwerp, not
London), a marketing user and an integration admin; and one API key of each scope: a till's key of store A (`till`), the web shop's key
(`integration`, no store) and a reporting key (`read_only`).

Surfaces: the member account pages, the POS scan page and its forms, the CRM console
(including writes marketing must not make), the mail links (open pixel, click,
unsubscribe) and every operation of the REST API x every key scope - generated from the
OpenAPI schema (checked against the URL conf), so an endpoint added later is in the matrix
automatically: it then gets a generic request, which a key of a scope that should reach it
must not get a 401/403 for, so an endpoint without declared scopes (refused to every key)
fails here; test_every_schema_operation_has_a_specific_request asks for a specific one in
API_REQUESTS. Which scopes reach which operation is written down here (TILL_OPERATIONS,
scopes_expected), apart from the views' own declarations. Plus API cells for store B,
online sales, the invite-only reward and the Ambassador's own answers.

Each cell makes one request and checks, besides its expected outcome (allowed: 2xx/3xx,
denied: 401/403/404 or the redirect to the right login page):
- never a 5xx;
- a refused write changes nothing, and no GET changes anything;
- no personal data of another member in the body (e-mail, number, name, QR token,
  voucher codes);
- the hidden tier (Ambassador, its benefits) and its invite-only reward and club never
  appear for a principal not entitled to them (member B, anyone looking at member B, the
  tier list).

Cells failing today because of a bug are strict xfails (XFAIL_CELLS). The world is built
once per module; every cell runs in its own savepoint, so cells are independent.

Member A is an Ambassador (hidden tier), member B is a Radiant member with a pending
invitation to Ambassador (so B may see the tier's name on the invitation page, but not
its reward). Subject of most API requests is member B."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from campaigns.models import (
    Award,
    Category,
    Club,
    ClubMembership,
    EarningRule,
    MessageLog,
    Reward,
    Voucher,
)
from campaigns.questionnaire import questionnaire_token
from campaigns.services import member_enroll, reward_redeem
from campaigns.services.crm import LINK_SALT, track_token, unsubscribe_token
from loyalty.kernel.roles import (
    INTEGRATION_ADMIN,
    MARKETING,
    STORE_MANAGER,
    STORE_STAFF,
    role_grant,
    roles_apply,
)
from members.models import AppleRegistration, LedgerEntry, Member, User, WalletPass
from members.qr import qr_svg
from members.services import ledger_post
from pos.clienteling.models import (
    Appointment,
    ClientContact,
    ClientNote,
    ClientProfile,
    WishlistItem,
)
from pos.clienteling.services import appointment_book, wishlist_add
from pos.models import Purchase, Return
from pos.services import api_key_create, purchase_record
from pos.services.counter_join import counter_join_record, join_link_read, join_token
from tests.factories import StoreFactory, UserFactory, make_program, make_rate
from tiers.models import Invitation, Tier, TierChange
from tiers.services import invitation_send, tier_invite

HIDDEN_TIER = "Ambassador"
HIDDEN_BENEFIT = "Private atelier evenings"
SECRET_REWARD = "Atelier Private Preview"
SECRET_CLUB = "Salon Prive Circle"  # a club only the hidden tier may join
PUBLIC_REWARD = "Gift wrap voucher"

# Every console role is a principal (loyalty.kernel.roles): the shop assistant and the manager of
# store A (Store staff, Store manager), marketing and the integration admin.
SESSION_PRINCIPALS = (
    "anonymous",
    "member_a",
    "member_b",
    "assistant_a",
    "manager_a",
    "marketing",
    "integration_admin",
)
# Who works the till of store A: the POS cells' expectations hold for both.
STAFF_AT_A = ("assistant_a", "manager_a")
CONSOLE_ROLES = ("manager_a", "marketing", "integration_admin")
KEY_PRINCIPALS = ("key_store_a", "key_webshop", "key_read_only")
# The scope of each key principal.
KEY_SCOPES = {"key_store_a": "till", "key_webshop": "integration", "key_read_only": "read_only"}
PRINCIPALS = SESSION_PRINCIPALS + KEY_PRINCIPALS
MEMBERS = ("member_a", "member_b")
NOT_MEMBERS = ("assistant_a", "manager_a", "marketing", "integration_admin")  # no membership


# --- the world ----------------------------------------------------------------------------


@dataclass
class Person:
    pk: int
    number: str
    email: str
    first_name: str
    qr_payload: str
    qr_token: str
    external_id: str
    user_id: int

    def private(self) -> list[str]:
        return [self.email, self.number, self.first_name, self.qr_token, self.external_id]


@dataclass
class World:
    a: Person
    b: Person
    users: dict[str, User]
    keys: dict[str, str]
    public_reward: int
    secret_reward: int
    club: int
    voucher_a: str  # A's voucher of the public reward
    voucher_a_secret: str  # A's voucher of the invite-only reward
    voucher_b: str  # B's voucher, for viewing and using
    voucher_b2: str  # B's second voucher, for cancelling
    invitation_b: str  # B's pending invitation token
    mail: dict = field(default_factory=dict)  # tokens of a mail sent to B
    wallet_b: str = ""  # the serial of B's wallet card
    number_c: str = ""  # a client of London only: not in Antwerp's client book
    appointment_london: int = 0  # B's appointment at London
    wish_b: int = 0  # a piece on B's wishlist
    experiment: dict = field(
        default_factory=dict
    )  # kind -> id of an experiment with a control group

    def private_of(self, who: str) -> list[str]:
        person = self.a if who == "a" else self.b
        codes = (
            [self.voucher_a, self.voucher_a_secret]
            if who == "a"
            else [self.voucher_b, self.voucher_b2, self.invitation_b]
        )
        return person.private() + codes


def _person(member: Member, external_id: str) -> Person:
    member.refresh_from_db()
    return Person(
        pk=member.pk,
        number=member.member_number,
        email=member.email,
        first_name=member.first_name,
        qr_payload=member.qr_payload,
        qr_token=member.qr_token,
        external_id=external_id,
        user_id=member.user_id,
    )


def build_world() -> World:
    tiers = make_program()
    Tier.objects.filter(code="ambassador").update(benefits=HIDDEN_BENEFIT)
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp", currency="EUR")
    london = StoreFactory(code="london", name="Carat London", city="London", currency="GBP")
    make_rate("GBP", "1.170000")

    roles_apply()  # the console's roles as production has them (loyalty.kernel.roles)
    Category.objects.create(code="rings", name="Rings")  # the catalog's (products_upsert)
    assistant = UserFactory(email="assistant@carat.example", full_name="Sam Shop")
    role_grant(user=assistant, role=STORE_STAFF, stores=[antwerp])
    manager = UserFactory(email="manager@carat.example", full_name="Mia Manager")
    role_grant(user=manager, role=STORE_MANAGER, stores=[antwerp])
    integration = UserFactory(email="integration@carat.example", full_name="Ian Tegration")
    role_grant(user=integration, role=INTEGRATION_ADMIN)
    marketing = User.objects.create_user(email="marketing@carat.example", password="x-12345678")
    role_grant(user=marketing, role=MARKETING)
    root = User.objects.create_superuser(email="root@carat.example", password="root-12345678")

    user_a = User.objects.create_user(email="annabel@example.com", password="pw-a-12345")
    user_b = User.objects.create_user(email="bartholomew@example.com", password="pw-b-12345")
    a = member_enroll(
        email="annabel@example.com",
        first_name="Annabel",
        last_name="Quist",
        external_id="EXT-ANNABEL",
        user=user_a,
    )
    b = member_enroll(
        email="bartholomew@example.com",
        first_name="Bartholomew",
        last_name="Vries",
        external_id="EXT-BARTHOLOMEW",
        user=user_b,
    )
    tier_invite(member=a, tier=tiers["ambassador"], actor=marketing, note="Creator")
    invitation = invitation_send(member=b, tier=tiers["ambassador"], actor=marketing, note="Maybe")

    public = Reward.objects.create(
        name=PUBLIC_REWARD,
        kind="amount",
        cost_carats=100,
        value=Decimal("10"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    secret = Reward.objects.create(
        name=SECRET_REWARD,
        kind="amount",
        cost_carats=100,
        value=Decimal("50"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    secret.tiers.set([tiers["ambassador"]])
    club = Club.objects.create(name="Collectors Circle", cost_carats=50, duration_days=365)
    secret_club = Club.objects.create(name=SECRET_CLUB, cost_carats=50, duration_days=365)
    secret_club.tiers.set([tiers["ambassador"]])

    for member in (a, b):
        ledger_post(
            member=member, carats=1000, kind="bonus", reason="welcome", key=f"fund:{member.pk}"
        )
    purchase_record(
        member=a, channel="store", store=antwerp, receipt_id="A-1", amount="300.00", currency="EUR"
    )
    purchase_record(
        member=b, channel="store", store=antwerp, receipt_id="B-1", amount="300.00", currency="EUR"
    )
    purchase_record(
        member=b, channel="store", store=london, receipt_id="L-1", amount="100.00", currency="GBP"
    )
    voucher_a = reward_redeem(member=a, reward=public).voucher.code
    voucher_a_secret = reward_redeem(member=a, reward=secret).voucher.code
    voucher_b = reward_redeem(member=b, reward=public).voucher.code
    voucher_b2 = reward_redeem(member=b, reward=public).voucher.code

    # A marketing mail sent to B (who consented): its open/click/unsubscribe links.
    Member.objects.filter(pk=b.pk).update(email_opt_in=True)
    log = MessageLog.objects.create(
        member=b, trigger="welcome", occasion="matrix", status="sent", sent_at=timezone.now()
    )
    target = "https://carat.example/collection"
    mail = {
        "track": track_token(log),
        "url": target,
        "signed_url": signing.dumps(target, salt=LINK_SALT, compress=True),
        "unsubscribe": unsubscribe_token(b),
        # The thank-you questionnaire of B's first purchase (a signed link, no login).
        "questionnaire": questionnaire_token(
            Purchase.objects.filter(member=b).order_by("pk").values_list("pk", flat=True)[0]
        ),
    }

    # Clienteling: C bought in London only; B has an appointment at London.
    c = member_enroll(email="cecilia@example.com", first_name="Cecilia", last_name="Quist")
    purchase_record(
        member=c, channel="store", store=london, receipt_id="C-1", amount="80.00", currency="GBP"
    )
    london_associate = UserFactory(email="lou@carat.example", full_name="Lou London")
    role_grant(user=london_associate, role=STORE_STAFF, stores=[london])
    appointment_london = appointment_book(
        store=london,
        member=b,
        associate=london_associate,
        starts_at=(timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0),
        minutes=60,
        purpose="viewing",
    )

    # Joined on their own phone: A through Antwerp's join code, B through London's. The
    # POS page lists only its own store's.
    for member, store, associate in ((a, antwerp, assistant), (b, london, london_associate)):
        link = join_link_read(join_token(store=store, associate=associate))
        counter_join_record(member=member, link=link)

    # A bonus campaign (after the world's sales), for the console's sale simulator, which
    # must write nothing.
    EarningRule.objects.create(
        name=SIMULATED_RULE, multiplier=Decimal("2"), budget_carats=500, store_codes="antwerp"
    )
    _k, store_key = api_key_create(name="antwerp till", store=antwerp)
    _k, web_key = api_key_create(name="web shop")
    _k, read_key = api_key_create(name="reporting", scope="read_only")
    return World(
        a=_person(a, "EXT-ANNABEL"),
        b=_person(b, "EXT-BARTHOLOMEW"),
        users={
            "member_a": user_a,
            "member_b": user_b,
            "assistant_a": assistant,
            "manager_a": manager,
            "marketing": marketing,
            "integration_admin": integration,
            "root": root,
        },
        keys={"key_store_a": store_key, "key_webshop": web_key, "key_read_only": read_key},
        public_reward=public.pk,
        secret_reward=secret.pk,
        club=club.pk,
        voucher_a=voucher_a,
        voucher_a_secret=voucher_a_secret,
        voucher_b=voucher_b,
        voucher_b2=voucher_b2,
        invitation_b=invitation.token,
        mail=mail,
        wallet_b=WalletPass.objects.create(member=b).serial,
        number_c=c.member_number,
        appointment_london=appointment_london.pk,
        wish_b=wishlist_add(member=b, description="Pearl drops", source="account").pk,
        experiment=_experiments(),
    )


def _experiments() -> dict:
    """A bonus rule and a trigger mail, each with a control group (their uplift reports)."""
    from campaigns.models import EarningRule, TriggerConfig

    rule = EarningRule.objects.create(name="Holdout x2", multiplier=2, holdout_percent=10)
    trigger = TriggerConfig.objects.get_or_create(
        trigger="anniversary",
        defaults={"subject_en": "Happy anniversary", "body_en": "Hello", "holdout_percent": 10},
    )[0]
    return {"rule": rule.pk, "trigger": trigger.pk}


def client_for(principal: str, world: World) -> Client:
    if principal in KEY_PRINCIPALS:
        return Client(headers={"Authorization": f"Api-Key {world.keys[principal]}"})
    client = Client()
    if principal != "anonymous":
        client.force_login(world.users[principal])
    return client


def snapshot() -> tuple:
    """What any surface could write; a refused request (and every GET) leaves it as is."""
    return (
        list(
            Member.objects.order_by("pk").values_list(
                "pk",
                "email",
                "first_name",
                "phone",
                "balance",
                "qr_token",
                "purchase_count",
                "email_opt_in",
            )
        ),
        LedgerEntry.objects.count(),
        AppleRegistration.objects.count(),
        ClientNote.objects.count(),
        list(ClientProfile.objects.order_by("pk").values_list("pk", "ring_size", "associate")),
        list(WishlistItem.objects.order_by("pk").values_list("pk", "removed_at")),
        list(Appointment.objects.order_by("pk").values_list("pk", "status")),
        ClientContact.objects.count(),
        list(Purchase.objects.order_by("pk").values_list("pk", "receipt_key")),
        list(Return.objects.order_by("pk").values_list("pk", "return_key")),
        list(Voucher.objects.order_by("pk").values_list("pk", "member_id", "status")),
        ClubMembership.objects.count(),
        Award.objects.count(),
        list(EarningRule.objects.order_by("pk").values_list("pk", "carats_given")),
        TierChange.objects.count(),
        list(Invitation.objects.order_by("pk").values_list("pk", "accepted_at")),
        list(
            User.objects.order_by("pk").values_list(
                "pk", "is_superuser", "is_staff", "is_active", "password"
            )
        ),
        list(
            MessageLog.objects.order_by("pk").values_list(
                "pk", "opened_at", "clicked_at", "unsubscribed_at"
            )
        ),
    )


# --- expectations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    statuses: tuple[int, ...]
    redirect: str | None = None  # a login URL name: Location must be it with ?next=
    writes: bool = False  # an allowed write: the snapshot may change
    contains: tuple[str, ...] = ()
    check: Callable | None = None  # extra check(response, world, principal)


def login_redirect(url_name: str) -> Expect:
    return Expect((302,), redirect=url_name)


DENIED_API = Expect((401,))


@dataclass(frozen=True)
class Surface:
    area: str  # account, pos, admin, mail, api
    name: str
    method: str
    path: Callable[[World], str]
    data: Callable[[World], dict] | None = None
    # principal -> Expect; principals not listed get the area's default
    expect: dict[str, Expect] = field(default_factory=dict)
    # who is entitled to see the hidden tier's name in this response
    hidden_tier_ok: tuple[str, ...] = ()
    # who is entitled to see the invite-only reward (and the tier) in this response
    hidden_reward_ok: tuple[str, ...] = ()
    # whose personal data may appear ("a", "b") per principal
    may_see: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.area}:{self.name}"


def default_expect(area: str, principal: str) -> Expect:
    if area == "account":
        if principal in ("anonymous", *KEY_PRINCIPALS):
            return login_redirect("members:login")
        raise KeyError
    if area == "pos":
        if principal in ("anonymous", *KEY_PRINCIPALS):
            return login_redirect("pos:login")
        if principal not in STAFF_AT_A:
            return Expect((403,))
        raise KeyError
    if area == "admin":
        if principal == "marketing":
            return Expect((200,))
        if principal in CONSOLE_ROLES:
            return Expect((403,))  # a console login without the program's permissions
        return login_redirect("admin:login")
    if area == "api":
        if principal in SESSION_PRINCIPALS:
            return DENIED_API
        raise KeyError
    raise KeyError(area)


# --- account surfaces -----------------------------------------------------------------------

OWN = {"member_a": ("a",), "member_b": ("b",)}
NO_MEMBERSHIP = {p: Expect((403,)) for p in NOT_MEMBERS}


def _svg_of(attr: str):
    """The QR code shown is the principal's own."""

    def check(response, world, principal):
        person = world.a if principal == "member_a" else world.b
        assert response["Content-Type"] == "image/svg+xml"
        assert response.content.decode() == qr_svg(getattr(person, attr))

    return check


def _voucher_svg(code_attr: str):
    def check(response, world, principal):
        assert response["Content-Type"] == "image/svg+xml"
        assert response.content.decode() == qr_svg(getattr(world, code_attr))

    return check


def _account_get(name, url_name, *, args=None, extra=None, a_ok=True):
    expect = {
        "member_a": Expect((200,)),
        "member_b": Expect((200,)),
        **NO_MEMBERSHIP,
        **(extra or {}),
    }
    return Surface(
        "account",
        name,
        "get",
        (lambda w: reverse(url_name, args=args(w))) if args else (lambda w: reverse(url_name)),
        expect=expect,
        hidden_tier_ok=("member_a",) if a_ok else (),
        hidden_reward_ok=("member_a",) if a_ok else (),
        may_see=OWN,
    )


def _no_pearls(response):
    assert "Pearl drops" not in response.content.decode(), "another member's wishlist shown"


def _optional_url(url_name: str) -> bool:
    try:
        reverse(url_name)
    except NoReverseMatch:
        return False
    return True


def _account_post(name, url_name, data, *, member_a, member_b, args=None):
    return Surface(
        "account",
        name,
        "post",
        (lambda w: reverse(url_name, args=args(w))) if args else (lambda w: reverse(url_name)),
        data=data,
        expect={"member_a": member_a, "member_b": member_b, **NO_MEMBERSHIP},
        may_see=OWN,
    )


ACCOUNT = [
    _account_get("home", "members:home"),
    _account_get(
        "wishlist",
        "account_wishlist",
        extra={
            "member_a": Expect((200,), check=lambda r, w, p: _no_pearls(r)),
            "member_b": Expect((200,), contains=("Pearl drops",)),
        },
    ),
    # What waits for the member's confirmation on their phone: their own, never another's.
    _account_get("till confirmation poll", "account_confirm"),
    _account_post(
        "answer a till request that is not theirs",
        "account_confirm_decide",
        lambda w: {"answer": "yes"},
        member_a=Expect((302,)),
        member_b=Expect((302,)),
        args=lambda w: [999999],
    ),
    # A cannot remove B's wish (the remove is scoped to the member's own list).
    _account_post(
        "remove B's wish",
        "account_wishlist",
        lambda w: {"remove": str(w.wish_b)},
        member_a=Expect((302,)),
        member_b=Expect((302,), writes=True),
    ),
    _account_post(
        "add a wish",
        "account_wishlist",
        lambda w: {"description": "Signet ring"},
        member_a=Expect((302,), writes=True),
        member_b=Expect((302,), writes=True),
    ),
    _account_get(
        "qr.svg",
        "members:qr",
        extra={
            "member_a": Expect((200,), check=_svg_of("qr_payload")),
            "member_b": Expect((200,), check=_svg_of("qr_payload")),
        },
    ),
    _account_get("history", "members:history"),
    _account_get("profile", "members:profile"),
    _account_get(
        "rewards",
        "members:rewards",
        extra={
            "member_a": Expect((200,), contains=(SECRET_REWARD, PUBLIC_REWARD)),
            "member_b": Expect((200,), contains=(PUBLIC_REWARD,)),
        },
    ),
    _account_get(
        "voucher qr of A",
        "members:voucher_qr",
        args=lambda w: [w.voucher_a],
        extra={
            "member_a": Expect((200,), check=_voucher_svg("voucher_a")),
            "member_b": Expect((404,)),
            **{p: Expect((404,)) for p in NOT_MEMBERS},
        },
    ),
    _account_get(
        "voucher qr of B",
        "members:voucher_qr",
        args=lambda w: [w.voucher_b],
        extra={
            "member_a": Expect((404,)),
            "member_b": Expect((200,), check=_voucher_svg("voucher_b")),
            **{p: Expect((404,)) for p in NOT_MEMBERS},
        },
    ),
    Surface(
        "account",
        "invitation of B",
        "get",
        lambda w: reverse("members:invitation", args=[w.invitation_b]),
        expect={
            "member_a": Expect((404,)),
            "member_b": Expect((200,), contains=(HIDDEN_TIER, HIDDEN_BENEFIT)),
            **NO_MEMBERSHIP,
        },
        # The invited member may read the tier's name and benefits, not its rewards.
        hidden_tier_ok=("member_b",),
        may_see=OWN,
    ),
    Surface(
        "account",
        "accept invitation of B",
        "post",
        lambda w: reverse("members:invitation", args=[w.invitation_b]),
        data=lambda w: {},
        expect={
            # A cannot accept B's invitation: a message, nothing changes.
            "member_a": Expect((302,)),
            "member_b": Expect((302,), writes=True),
            **NO_MEMBERSHIP,
        },
        hidden_tier_ok=("member_a", "member_b"),
        hidden_reward_ok=("member_a",),
        may_see=OWN,
    ),
    Surface(
        "account",
        "redeem the invite-only reward",
        "post",
        lambda w: reverse("members:redeem", args=[w.secret_reward]),
        data=lambda w: {},
        expect={
            "member_a": Expect((302,), writes=True),
            # Not entitled: a message and a redirect, no voucher, no debit.
            "member_b": Expect((302,)),
            **NO_MEMBERSHIP,
        },
        hidden_tier_ok=("member_a",),
        hidden_reward_ok=("member_a",),
        may_see=OWN,
    ),
    Surface(
        "account",
        "rotate qr",
        "post",
        lambda w: reverse("members:rotate_qr"),
        data=lambda w: {},
        expect={
            "member_a": Expect((302,), writes=True),
            "member_b": Expect((302,), writes=True),
            **NO_MEMBERSHIP,
        },
        may_see=OWN,
    ),
    Surface(
        "account",
        "join club",
        "post",
        lambda w: reverse("members:join_club", args=[w.club]),
        data=lambda w: {},
        expect={
            "member_a": Expect((302,), writes=True),
            "member_b": Expect((302,), writes=True),
            **NO_MEMBERSHIP,
        },
        may_see=OWN,
    ),
]
# Pages added by the privacy work (export of one's own data), when present.
if _optional_url("members:privacy"):
    ACCOUNT.append(_account_get("privacy", "members:privacy"))
if _optional_url("members:export"):
    ACCOUNT.append(_account_get("export", "members:export"))

# --- POS surfaces ---------------------------------------------------------------------------


def _pos(
    name, method, path, data=None, *, expect, subject=None, writes=False, contains=(), check=None
):
    """`subject`: whose member page this is ("a" may show the hidden tier)."""
    return Surface(
        "pos",
        name,
        method,
        path,
        data=data,
        expect={
            p: Expect(*expect, writes=writes, contains=contains, check=check) for p in STAFF_AT_A
        }
        if expect
        else {},
        hidden_tier_ok=STAFF_AT_A if "a" in (subject or "") else (),
        hidden_reward_ok=STAFF_AT_A if subject == "a" else (),
        may_see={p: tuple(subject) if subject else () for p in STAFF_AT_A},  # "ab": both
    )


def _member(w, who, action=""):
    person = w.a if who == "a" else w.b
    suffix = {
        "": "pos:member",
        "sale": "pos:sale",
        "return": "pos:return",
        "voucher": "pos:voucher",
        "reward": "pos:reward",
    }[action]
    return reverse(suffix, args=[person.number])


POS = [
    # The index shows who joined at the store lately: A joined at Antwerp, B at London.
    _pos(
        "index",
        "get",
        lambda w: reverse("pos:index"),
        expect=((200,),),
        subject="a",
        contains=("Annabel",),
    ),
    _pos(
        "joined here lately",
        "get",
        lambda w: reverse("pos:joined"),
        expect=((200,),),
        subject="a",
        contains=("Annabel",),
    ),
    _pos("member page A", "get", lambda w: _member(w, "a"), expect=((200,),), subject="a"),
    _pos("member page B", "get", lambda w: _member(w, "b"), expect=((200,),), subject="b"),
    _pos(
        "sale for B at store A",
        "post",
        lambda w: _member(w, "b", "sale"),
        lambda w: {
            "store": "antwerp",
            "receipt_id": "POS-1",
            "amount": "120.00",
            "currency": "EUR",
        },
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "sale for B at store B",
        "post",
        lambda w: _member(w, "b", "sale"),
        lambda w: {"store": "london", "receipt_id": "POS-2", "amount": "120.00", "currency": "GBP"},
        expect=((403,),),
        subject="b",
    ),
    _pos(
        "return for B at store A",
        "post",
        lambda w: _member(w, "b", "return"),
        lambda w: {"store": "antwerp", "receipt_id": "B-1", "return_id": "RP-1", "amount": "30.00"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "return for B at store B",
        "post",
        lambda w: _member(w, "b", "return"),
        lambda w: {"store": "london", "receipt_id": "L-1", "return_id": "RP-2", "amount": "30.00"},
        expect=((403,),),
        subject="b",
    ),
    _pos(
        "return of B's receipt on A's page",
        "post",
        lambda w: _member(w, "a", "return"),
        lambda w: {"store": "antwerp", "receipt_id": "B-1", "return_id": "RP-3", "amount": "30.00"},
        expect=((400,),),
        subject="a",
    ),
    _pos(
        "use B's voucher for B",
        "post",
        lambda w: _member(w, "b", "voucher"),
        lambda w: {"store": "antwerp", "code": w.voucher_b},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "use B's voucher on A's page",
        "post",
        lambda w: _member(w, "a", "voucher"),
        lambda w: {"store": "antwerp", "code": w.voucher_b},
        expect=((400,),),
        subject="a",
    ),
    _pos(
        "use B's voucher at store B",
        "post",
        lambda w: _member(w, "b", "voucher"),
        lambda w: {"store": "london", "code": w.voucher_b},
        expect=((403,),),
        subject="b",
    ),
    _pos(
        "redeem a public reward for B",
        "post",
        lambda w: _member(w, "b", "reward"),
        lambda w: {"store": "antwerp", "reward": str(w.public_reward), "confirm": "1"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "redeem the invite-only reward for B",
        "post",
        lambda w: _member(w, "b", "reward"),
        lambda w: {"store": "antwerp", "reward": str(w.secret_reward), "confirm": "1"},
        expect=((404,),),
        subject="b",
    ),
    _pos(
        "register",
        "post",
        lambda w: reverse("pos:register"),
        lambda w: {"email": "walkin@example.com", "first_name": "Walk", "last_name": "In"},
        expect=((302,),),
        writes=True,
    ),
    _pos(
        "switch to store A",
        "post",
        lambda w: reverse("pos:store"),
        lambda w: {"store": "antwerp"},
        expect=((302,),),
    ),
    _pos(
        "switch to store B",
        "post",
        lambda w: reverse("pos:store"),
        lambda w: {"store": "london"},
        expect=((403,),),
    ),
    _pos(
        "scan B",
        "post",
        lambda w: reverse("pos:scan"),
        lambda w: {"code": w.b.qr_payload},
        expect=((302,),),
        subject="b",
    ),
]


def _book(w, who, name="pos:client_book"):
    number = {"a": w.a.number, "b": w.b.number, "c": w.number_c}[who]
    return reverse(name, args=[number])


def _no_c(response, world, principal):
    assert "Cecilia" not in response.content.decode(), "a client of another store shown"


def _in_three_days():
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    return {"day": day, "time": "11:00", "minutes": "60", "purpose": "styling"}


CLIENTELING = [
    # The search finds the store's clients only: C (London) never, whatever is typed.
    _pos(
        "client search",
        "get",
        lambda w: reverse("pos:clients") + "?q=quist",
        expect=((200,),),
        contains=("Annabel",),
        check=_no_c,
        subject="a",
    ),
    _pos("client book A", "get", lambda w: _book(w, "a"), expect=((200,),), subject="a"),
    _pos("client book B", "get", lambda w: _book(w, "b"), expect=((200,),), subject="b"),
    _pos(
        "client book of another store's client",
        "get",
        lambda w: _book(w, "c"),
        expect=((404,),),
        check=_no_c,
    ),
    _pos(
        "note on B",
        "post",
        lambda w: _book(w, "b", "pos:client_note"),
        lambda w: {"text": "Prefers rose gold"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "note on another store's client",
        "post",
        lambda w: _book(w, "c", "pos:client_note"),
        lambda w: {"text": "x"},
        expect=((404,),),
        check=_no_c,
    ),
    _pos(
        "preferences of B",
        "post",
        lambda w: _book(w, "b", "pos:client_profile"),
        lambda w: {"ring_size": "52"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "preferences of another store's client",
        "post",
        lambda w: _book(w, "c", "pos:client_profile"),
        lambda w: {"ring_size": "52"},
        expect=((404,),),
        check=_no_c,
    ),
    _pos(
        "wish for B",
        "post",
        lambda w: _book(w, "b", "pos:client_wish"),
        lambda w: {"description": "Tennis bracelet"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "wish for another store's client",
        "post",
        lambda w: _book(w, "c", "pos:client_wish"),
        lambda w: {"description": "Tennis bracelet"},
        expect=((404,),),
        check=_no_c,
    ),
    _pos(
        "remove a wish of B",
        "post",
        lambda w: _book(w, "b", "pos:client_wish_remove"),
        lambda w: {"item": "999999"},
        expect=((302,),),
        subject="b",
    ),
    _pos(
        "appointment for B at store A",
        "post",
        lambda w: _book(w, "b", "pos:appointment_book"),
        lambda w: {
            **_in_three_days(),
            "store": "antwerp",
            "associate": str(w.users["assistant_a"].pk),
        },
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "appointment for B at store B",
        "post",
        lambda w: _book(w, "b", "pos:appointment_book"),
        lambda w: {**_in_three_days(), "store": "london", "associate": "1"},
        expect=((403,),),
        subject="b",
    ),
    _pos("day view", "get", lambda w: reverse("pos:day"), expect=((200,),)),
    _pos(
        "redemption status of a request that is not there",
        "get",
        lambda w: reverse("pos:redemption_status", args=[w.b.number, 999999]),
        expect=((404,),),
    ),
    _pos(
        "outreach",
        "get",
        lambda w: reverse("pos:outreach"),
        expect=((200,),),
        contains=("Annabel", "Pearl drops"),  # an Ambassador to care for; B's new wish
        check=_no_c,
        subject="ab",
    ),
    _pos(
        "log a call with B",
        "post",
        lambda w: _book(w, "b", "pos:client_contact"),
        lambda w: {"channel": "call", "note": "Asked about the pearls"},
        expect=((302,),),
        subject="b",
        writes=True,
    ),
    _pos(
        "log a call with another store's client",
        "post",
        lambda w: _book(w, "c", "pos:client_contact"),
        lambda w: {"channel": "call"},
        expect=((404,),),
        check=_no_c,
    ),
    _pos(
        "redemption's confirmation for B (nothing spent yet)",
        "post",
        lambda w: _member(w, "b", "reward"),
        lambda w: {"store": "antwerp", "reward": str(w.public_reward)},
        expect=((200,),),
        subject="b",
    ),
    _pos(
        "confirmation of the invite-only reward for B",
        "post",
        lambda w: _member(w, "b", "reward"),
        lambda w: {"store": "antwerp", "reward": str(w.secret_reward)},
        expect=((404,),),
        subject="b",
    ),
    _pos(
        "cancel an appointment at store B",
        "post",
        lambda w: reverse("pos:appointment_cancel", args=[w.appointment_london]),
        expect=((404,),),
    ),
]
POS += CLIENTELING

# --- console surfaces -----------------------------------------------------------------------


def _admin(name, path):
    return Surface(
        "admin",
        name,
        "get",
        path,
        hidden_tier_ok=("marketing",),
        hidden_reward_ok=("marketing",),
        may_see={"marketing": ("a", "b")},
    )


SIMULATED_RULE = "Double carats in Antwerp"


def _rule_simulator(w):
    rule = EarningRule.objects.get(name=SIMULATED_RULE)
    return reverse("admin:campaigns_earningrule_simulate", args=[rule.pk])


def _simulated_sale(w):
    from pos.models import Store

    return {
        "member": w.b.pk,
        "amount": "120.00",
        "currency": "EUR",
        "channel": "store",
        "store": Store.objects.get(code="antwerp").pk,
        "date": timezone.localdate().isoformat(),
        "time": "12:00",
        "lines": "rings, R-1, 120, 1",
    }


ADMIN = [
    Surface(
        "admin",
        "index",
        "get",
        lambda w: reverse("admin:index"),
        # Every console role reaches the console's front page (what is on it is its own).
        expect={p: Expect((200,)) for p in CONSOLE_ROLES},
        hidden_tier_ok=("marketing",),
        hidden_reward_ok=("marketing",),
    ),
    _admin("member changelist", lambda w: reverse("admin:members_member_changelist")),
    _admin("product catalog", lambda w: reverse("admin:campaigns_product_changelist")),
    _admin("product catalog upload", lambda w: reverse("admin:campaigns_product_upload")),
    _admin("popular products", lambda w: reverse("admin:campaigns_popularproduct_changelist")),
    _admin("questionnaire answers", lambda w: reverse("admin:pos_questionnaireanswer_changelist")),
    _admin("member change A", lambda w: reverse("admin:members_member_change", args=[w.a.pk])),
    _admin("ledger changelist", lambda w: reverse("admin:members_ledgerentry_changelist")),
    # Every store's client book, read-only for marketing.
    _admin("client appointments", lambda w: reverse("admin:pos_appointment_changelist")),
    _admin("client wishlists", lambda w: reverse("admin:pos_wishlistitem_changelist")),
    # The uplift reports (aggregates only): whoever may view the experiment.
    _admin(
        "uplift of a bonus rule",
        lambda w: reverse("admin:uplift", args=["rule", w.experiment["rule"]]),
    ),
    _admin(
        "uplift of a trigger mail",
        lambda w: reverse("admin:uplift", args=["trigger", w.experiment["trigger"]]),
    ),
    # The mail preview (rendered for a chosen member, as sent) and its test send.
    _admin(
        "mail preview for B",
        lambda w: (
            reverse("admin:campaigns_mail_preview")
            + f"?source=t:birthday&language=fr&member={w.b.pk}"
        ),
    ),
    Surface(
        "admin",
        "mail test send for B",
        "post",
        lambda w: reverse("admin:campaigns_mail_preview"),
        data=lambda w: {"source": "t:birthday", "language": "nl", "member": w.b.pk, "send": "1"},
        hidden_tier_ok=("marketing",),
        hidden_reward_ok=("marketing",),
        may_see={"marketing": ("a", "b")},
    ),
    # The rule's sale simulator: the page, and a sale simulated (nothing may be written).
    _admin("rule simulator", _rule_simulator),
    Surface(
        "admin",
        "rule simulator: simulate a sale",
        "post",
        _rule_simulator,
        data=_simulated_sale,
        expect={"marketing": Expect((200,), contains=("Double carats in Antwerp +",))},
        may_see={"marketing": ("a", "b")},
        hidden_tier_ok=("marketing",),
    ),
    # The segment builder's live count (reads only).
    Surface(
        "admin",
        "segment live count",
        "post",
        lambda w: reverse("admin:campaigns_segment_count"),
        data=lambda w: {"definition": '{"groups": [[{"field": "country", "value": "BE"}]]}'},
        expect={"marketing": Expect((200,), contains=('"members":',))},
    ),
    # The predictions: who to invite to the hidden tier (read-only, marketing).
    _admin(
        "ambassador candidates",
        lambda w: reverse("admin:members_ambassadorcandidate_changelist"),
    ),
]


def _self_promotion(w):
    """The marketing user's own login, posted back with is_superuser ticked."""
    user = w.users["marketing"]
    return {
        "email": user.email,
        "full_name": "",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [g.pk for g in user.groups.all()],
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
    }


# Console writes marketing must not be able to make: whatever the status, nothing changes.
ADMIN += [
    Surface(
        "admin",
        "make oneself superuser",
        "post",
        lambda w: reverse("admin:members_user_change", args=[w.users["marketing"].pk]),
        data=_self_promotion,
        expect={p: Expect((200, 302, 403)) for p in CONSOLE_ROLES},
    ),
    Surface(
        "admin",
        "set the superuser's password",
        "post",
        lambda w: reverse("admin:auth_user_password_change", args=[w.users["root"].pk]),
        data=lambda w: {
            "password1": "hijacked-pass-999",
            "password2": "hijacked-pass-999",
            "usable_password": "true",
        },
        expect={p: Expect((200, 302, 403, 404)) for p in CONSOLE_ROLES},
    ),
]

# The member 360's actions (loyalty.console.member360): marketing may take them; any other
# console role is refused (403) and changes nothing; the pages show the hidden tier only to
# marketing (the invitation's tier list).
MEMBER_ACTIONS = {
    "adjust": lambda w: {"carats": "25", "reason": "goodwill", "batch": "d" * 32},
    "invite": lambda w: {
        "tier": str(Tier.objects.get(code="ambassador").pk),
        "note": "matrix",
    },
    "send-card": lambda w: {},
    "reset-login": lambda w: {},
}


def _member_action(slug, method):
    return Surface(
        "admin",
        f"member 360 action {slug} on B ({method})",
        method,
        lambda w: reverse("admin:members_member_action", args=[w.b.pk, slug]),
        data=MEMBER_ACTIONS[slug] if method == "post" else None,
        expect={"marketing": Expect((302,), writes=True)} if method == "post" else {},
        hidden_tier_ok=("marketing",),
        hidden_reward_ok=("marketing",),
        may_see={"marketing": ("a", "b")},
    )


ADMIN += [_member_action(slug, m) for slug in MEMBER_ACTIONS for m in ("get", "post")]

# --- mail links (public: the signed token in the URL is the authorisation) --------------------


def _mail(name, path, expect, *, method="get", writes=False, query=None, sees_b=False, check=None):
    return Surface(
        "mail",
        name,
        method,
        path,
        data=query,
        expect={p: Expect(expect, writes=writes, check=check) for p in PRINCIPALS},
        may_see={p: ("b",) for p in PRINCIPALS} if sees_b else {},
    )


def _is_gif(response, world, principal):
    assert response["Content-Type"] == "image/gif"


def _to_target(response, world, principal):
    assert response["Location"] == world.mail["url"]


MAIL = [
    _mail(
        "open pixel of B's mail",
        lambda w: reverse("campaigns:open", args=[w.mail["track"]]),
        (200,),
        writes=True,
        check=_is_gif,
    ),
    _mail(
        "open pixel, forged token",
        lambda w: reverse("campaigns:open", args=["forged-token"]),
        (200,),
        check=_is_gif,
    ),
    _mail(
        "click in B's mail",
        lambda w: reverse("campaigns:click", args=[w.mail["track"]]),
        (302,),
        writes=True,
        query=lambda w: {"u": w.mail["signed_url"]},
        check=_to_target,
    ),
    _mail(
        "click to an unsigned target (open redirect)",
        lambda w: reverse("campaigns:click", args=[w.mail["track"]]),
        (400,),
        query=lambda w: {"u": "https://evil.example/"},
    ),
    _mail(
        "unsubscribe of B",
        lambda w: reverse("campaigns:unsubscribe", args=[w.mail["unsubscribe"]]),
        (200,),
        writes=True,
        sees_b=True,
    ),
    _mail(
        "one-click unsubscribe of B (POST)",
        lambda w: reverse("campaigns:unsubscribe", args=[w.mail["unsubscribe"]]),
        (200,),
        method="post",
        writes=True,
        sees_b=True,
    ),
    _mail(
        "unsubscribe, forged token",
        lambda w: reverse("campaigns:unsubscribe", args=["forged:token"]),
        (400,),
    ),
    # The mail provider's tracking webhook: basic auth (ANYMAIL WEBHOOK_SECRET) or nothing;
    # a session or an API key is no credential here.
    _mail(
        "mail provider webhook without its credentials",
        lambda w: reverse("campaigns:esp_tracking"),
        (401,),
        method="post",
    ),
    _mail(
        "questionnaire of B's purchase",
        lambda w: reverse("questionnaire", args=[w.mail["questionnaire"]]),
        (200,),
        sees_b=True,
    ),
    _mail(
        "questionnaire of B's purchase, answered (POST)",
        lambda w: reverse("questionnaire", args=[w.mail["questionnaire"]]),
        (200,),
        method="post",
        writes=True,
        sees_b=True,
        query=lambda w: {"satisfaction": "5", "bought_for": "gift", "metal": "white_gold"},
    ),
    _mail(
        "questionnaire, forged token",
        lambda w: reverse("questionnaire", args=["forged:token"]),
        (404,),
    ),
]

# --- API surfaces: every operation in the schema ---------------------------------------------

METHODS = ("get", "post", "put", "patch", "delete")


def schema_operations() -> list[tuple[str, str, str]]:
    spec = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (path, method, op.get("operationId", f"{method} {path}"))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    )


OPERATIONS = schema_operations()
OPERATION_IDS = {(path, method): op_id for path, method, op_id in OPERATIONS}

# What each key scope may do, written down here apart from the views' declarations (which
# the matrix checks against it): a till's key its store's sales and returns, member
# lookups, vouchers and the public tier list; an integration's key (web shop, ERP)
# everything; a read-only key every GET. A new operation is the integration's (and a
# read-only key's if it is a GET) until it is added here.
TILL_OPERATIONS = frozenset(
    {
        "members_lookup",
        "members_vouchers",
        "purchases_create",
        "returns_create",
        "tiers_list",
        "vouchers_redeem",
        "vouchers_retrieve",
    }
)


def scopes_expected(op_id: str, method: str) -> set[str]:
    scopes = {"integration"}
    if op_id in TILL_OPERATIONS:
        scopes.add("till")
    if method == "get":
        scopes.add("read_only")
    return scopes


def _refused_for_scope(response, world, principal):
    assert response.json()["error"]["code"] == "scope_not_allowed", response.content


SCOPE_DENIED = Expect((403,), check=_refused_for_scope)


@dataclass(frozen=True)
class ApiRequest:
    params: Callable[[World], dict]  # path parameters
    query: Callable[[World], dict] | None = None
    body: Callable[[World], dict] | None = None
    store_key: Expect = Expect((200, 201))
    webshop_key: Expect = Expect((200, 201))
    # The read-only key, where its scope reaches (GETs): the web shop's answer if None.
    read_key: Expect | None = None
    about: str = "b"  # whose data the answer is about


B_NUMBER = lambda w: {"number": w.b.number}  # noqa: E731
NOTHING = lambda w: {}  # noqa: E731

API_REQUESTS: dict[str, ApiRequest] = {
    "members_lookup": ApiRequest(NOTHING, query=lambda w: {"code": w.b.qr_payload}),
    "members_create": ApiRequest(
        NOTHING,
        body=lambda w: {"email": "nina@example.com", "first_name": "Nina"},
        store_key=Expect((201,), writes=True),
        webshop_key=Expect((201,), writes=True),
        about="",
    ),
    "members_retrieve": ApiRequest(B_NUMBER),
    "members_update": ApiRequest(
        B_NUMBER,
        body=lambda w: {"phone": "+32470999888"},
        store_key=Expect((200,), writes=True),
        webshop_key=Expect((200,), writes=True),
    ),
    "members_by_external_id": ApiRequest(lambda w: {"external_id": w.b.external_id}),
    "members_ledger": ApiRequest(B_NUMBER),
    "purchases_create": ApiRequest(
        NOTHING,
        body=lambda w: {
            "member": w.b.number,
            "store": "antwerp",
            "receipt_id": "API-1",
            "amount": "80.00",
            "currency": "EUR",
        },
        store_key=Expect((201,), writes=True),
        webshop_key=Expect((201,), writes=True),
    ),
    "returns_create": ApiRequest(
        NOTHING,
        body=lambda w: {
            "store": "antwerp",
            "receipt_id": "B-1",
            "return_id": "API-R1",
            "amount": "20.00",
        },
        store_key=Expect((201,), writes=True),
        webshop_key=Expect((201,), writes=True),
    ),
    "tiers_list": ApiRequest(NOTHING, about=""),
    "products_list": ApiRequest(NOTHING, about=""),
    "products_upsert": ApiRequest(
        NOTHING,
        body=lambda w: {
            "products": [{"sku": "RING-9", "name": "Ring", "category": "rings", "price": "99.00"}]
        },
        store_key=Expect((200,), writes=True),
        webshop_key=Expect((200,), writes=True),
        about="",
    ),
    "events_create": ApiRequest(
        NOTHING,
        body=lambda w: {"member": w.b.number, "type": "review", "reference": "PRODUCT-1"},
        store_key=Expect((200, 201), writes=True),
        webshop_key=Expect((200, 201), writes=True),
    ),
    "members_rewards": ApiRequest(
        B_NUMBER,
        store_key=Expect((200,), contains=(PUBLIC_REWARD,)),
        webshop_key=Expect((200,), contains=(PUBLIC_REWARD,)),
    ),
    "members_redemptions_create": ApiRequest(
        B_NUMBER,
        body=lambda w: {"reward": w.public_reward},
        store_key=Expect((201,), writes=True),
        webshop_key=Expect((201,), writes=True),
    ),
    "members_vouchers": ApiRequest(B_NUMBER),
    "vouchers_retrieve": ApiRequest(lambda w: {"code": w.voucher_b}),
    "vouchers_redeem": ApiRequest(
        lambda w: {"code": w.voucher_b},
        body=lambda w: {},
        store_key=Expect((200,), writes=True),
        webshop_key=Expect((200,), writes=True),
    ),
    "vouchers_cancel": ApiRequest(
        lambda w: {"code": w.voucher_b2},
        body=lambda w: {},
        # Only the web shop or the ERP cancel vouchers.
        store_key=Expect((403,)),
        webshop_key=Expect((200,), writes=True),
    ),
    "members_clubs": ApiRequest(B_NUMBER),
    "members_clubs_join": ApiRequest(
        B_NUMBER,
        body=lambda w: {"club": w.club},
        store_key=Expect((201,), writes=True),
        webshop_key=Expect((201,), writes=True),
    ),
}

# Cells beyond one request per operation: store-bound keys and other stores, the
# invite-only reward, a member who is an Ambassador.
API_EXTRA: dict[str, tuple[str, str, ApiRequest]] = {
    "sale at store B": (
        "/api/v1/purchases/",
        "post",
        ApiRequest(
            NOTHING,
            body=lambda w: {
                "member": w.b.number,
                "store": "london",
                "receipt_id": "API-L1",
                "amount": "80.00",
                "currency": "GBP",
            },
            store_key=Expect((403,)),
            webshop_key=Expect((201,), writes=True),
        ),
    ),
    "online sale": (
        "/api/v1/purchases/",
        "post",
        ApiRequest(
            NOTHING,
            body=lambda w: {
                "member": w.b.number,
                "channel": "online",
                "receipt_id": "WEB-1",
                "amount": "80.00",
                "currency": "EUR",
            },
            store_key=Expect((403,)),
            webshop_key=Expect((201,), writes=True),
        ),
    ),
    "return at store B": (
        "/api/v1/returns/",
        "post",
        ApiRequest(
            NOTHING,
            body=lambda w: {
                "store": "london",
                "receipt_id": "L-1",
                "return_id": "API-LR1",
                "amount": "10.00",
            },
            store_key=Expect((403,)),
            webshop_key=Expect((201,), writes=True),
        ),
    ),
    "voucher at store B": (
        "/api/v1/vouchers/{code}/redeem/",
        "post",
        ApiRequest(
            lambda w: {"code": w.voucher_b},
            body=lambda w: {"store": "london"},
            store_key=Expect((403,)),
            webshop_key=Expect((200,), writes=True),
        ),
    ),
    "invite-only reward for B": (
        "/api/v1/members/{number}/redemptions/",
        "post",
        ApiRequest(
            B_NUMBER,
            body=lambda w: {"reward": w.secret_reward},
            store_key=Expect((404,)),
            webshop_key=Expect((404,)),
        ),
    ),
    "lookup of A (Ambassador)": (
        "/api/v1/members/lookup/",
        "get",
        ApiRequest(
            NOTHING,
            query=lambda w: {"code": w.a.qr_payload},
            store_key=Expect((200,), contains=(HIDDEN_TIER,)),
            webshop_key=Expect((200,), contains=(HIDDEN_TIER,)),
            about="a",
        ),
    ),
    "rewards of A (Ambassador)": (
        "/api/v1/members/{number}/rewards/",
        "get",
        ApiRequest(
            lambda w: {"number": w.a.number},
            store_key=Expect((200,), contains=(SECRET_REWARD,)),
            webshop_key=Expect((200,), contains=(SECRET_REWARD,)),
            about="a",
        ),
    ),
    "clubs of A (Ambassador)": (
        "/api/v1/members/{number}/clubs/",
        "get",
        ApiRequest(
            lambda w: {"number": w.a.number},
            store_key=Expect((200,), contains=(SECRET_CLUB,)),
            webshop_key=Expect((200,), contains=(SECRET_CLUB,)),
            about="a",
        ),
    ),
}

GENERIC_PARAMS = {
    "number": lambda w: w.b.number,
    "external_id": lambda w: w.b.external_id,
    "code": lambda w: w.voucher_b,
}


def _generic_request(path: str, method: str) -> ApiRequest:
    """A new operation without a specific request: fill the path parameters with
    member B's, send an empty body; a key must not get a 401/403 from the auth layer
    nor a 5xx."""
    names = re.findall(r"{(\w+)}", path)
    ok = Expect(tuple(s for s in range(200, 500) if s not in (401, 403)), writes=True)
    return ApiRequest(
        lambda w: {n: GENERIC_PARAMS.get(n, lambda w: "1")(w) for n in names},
        body=(lambda w: {}) if method != "get" else None,
        store_key=ok,
        webshop_key=ok,
    )


def _key_expect(principal: str, req: ApiRequest, allowed: set[str]) -> Expect:
    """A key whose scope may not call the operation gets a 403 (scope_not_allowed) and
    changes nothing; the others what the request expects of them."""
    if KEY_SCOPES[principal] not in allowed:
        return SCOPE_DENIED
    if principal == "key_store_a":
        return req.store_key
    if principal == "key_read_only" and req.read_key is not None:
        return req.read_key
    return req.webshop_key


def _api_surface(name: str, path: str, method: str, req: ApiRequest) -> Surface:
    def build_path(w, path=path, req=req):
        return path.format(**req.params(w))

    def build_data(w, req=req, method=method):
        if method == "get":
            return req.query(w) if req.query else {}
        return req.body(w) if req.body else {}

    allowed = scopes_expected(OPERATION_IDS[(path, method)], method)
    about = (req.about,) if req.about else ()
    entitled = KEY_PRINCIPALS if req.about == "a" else ()
    return Surface(
        "api",
        name,
        method,
        build_path,
        data=build_data,
        expect={p: _key_expect(p, req, allowed) for p in KEY_PRINCIPALS},
        hidden_tier_ok=entitled,
        hidden_reward_ok=entitled,
        may_see=dict.fromkeys(KEY_PRINCIPALS, about),
    )


API = [
    _api_surface(
        f"{op_id} {method.upper()} {path}",
        path,
        method,
        API_REQUESTS.get(op_id) or _generic_request(path, method),
    )
    for path, method, op_id in OPERATIONS
] + [
    _api_surface(f"{name} {method.upper()} {path}", path, method, req)
    for name, (path, method, req) in API_EXTRA.items()
]

# --- wallet: the members' card downloads are account pages; Apple's pass web service
# answers only a request with the pass's own `ApplePass` token, which no principal has
# (a session or an API key opens nothing there).
ACCOUNT += [
    _account_get(
        "wallet apple",
        "members:wallet_apple",
        # 200 with the signing certificates configured, else back to the account page
        extra={"member_a": Expect((200, 302)), "member_b": Expect((200, 302))},
    ),
    _account_get(
        "wallet google",
        "members:wallet_google",
        extra={"member_a": Expect((302,)), "member_b": Expect((302,))},
    ),
]
_WALLET_TYPE = settings.CARAT_WALLET_PASS_TYPE_ID
_NO_TOKEN = {p: Expect((401,)) for p in PRINCIPALS}
WALLET = [
    Surface(
        "wallet",
        "register device for B's pass",
        "post",
        lambda w: f"/wallet/apple/v1/devices/dev1/registrations/{_WALLET_TYPE}/{w.wallet_b}",
        data=lambda w: {"pushToken": "ab" * 32},
        expect=_NO_TOKEN,
    ),
    Surface(
        "wallet",
        "B's latest pass",
        "get",
        lambda w: f"/wallet/apple/v1/passes/{_WALLET_TYPE}/{w.wallet_b}",
        expect=_NO_TOKEN,
    ),
    Surface(
        "wallet",
        "serials of an unknown device",
        "get",
        lambda w: f"/wallet/apple/v1/devices/dev1/registrations/{_WALLET_TYPE}",
        expect={p: Expect((204,)) for p in PRINCIPALS},
    ),
    Surface(
        "wallet",
        "device log (not JSON)",
        "post",
        lambda w: "/wallet/apple/v1/log",
        expect={p: Expect((400,)) for p in PRINCIPALS},
    ),
]

SURFACES = ACCOUNT + POS + ADMIN + MAIL + API + WALLET
# Cells that fail today because of a bug: strict xfail, so the fix turns them green.
ESCALATION = (
    "BUG: privilege escalation in the console: the Marketing group (as tests/test_admin.py "
    "and loaddemo set it up: every permission of the members app, so members.change_user) "
    "may edit any login in members.admin.UserAdmin, including its own is_superuser, "
    "is_staff, groups and permissions, and set any user's password (also a superuser's)"
)
XFAIL_CELLS: dict = {}  # none today; a cell failing because of a known bug goes here
CASES = [
    pytest.param(
        principal,
        surface,
        id=f"{principal}-{surface.label}",
        marks=[pytest.mark.xfail(strict=True, reason=XFAIL_CELLS[(principal, surface.label)])]
        if (principal, surface.label) in XFAIL_CELLS
        else [],
    )
    for surface in SURFACES
    for principal in PRINCIPALS
]
# 8 principals (3 of them API keys, one per scope) x (12+ account, 17 POS, 6 console,
# 7 mail links, 18+ API operations and 8 more API cells).
MATRIX_SIZE = len(CASES)


def test_the_matrix_covers_every_principal_surface_and_api_operation():
    assert len(PRINCIPALS) == 10  # 7 sessions (every console role) and 3 key scopes
    assert len(OPERATIONS) >= 18
    assert MATRIX_SIZE >= 8 * (12 + 17 + 6 + 7 + 18 + 8), MATRIX_SIZE
    assert len(PRINCIPALS) * len(SURFACES) == MATRIX_SIZE


def test_every_key_scope_is_a_principal():
    from pos.models import ApiKey

    assert sorted(KEY_SCOPES.values()) == sorted(ApiKey.Scope.values)


def _url_conf_operations() -> set[tuple[str, str]]:
    """Every (path, method) the API's URL conf serves: each v1 pattern's view and the
    HTTP methods it implements."""
    from pos import api_urls

    found = set()
    for pattern in api_urls.v1:
        path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        view = pattern.callback.cls
        found |= {(path, m) for m in METHODS if hasattr(view, m)}
    return found


def test_the_schema_lists_every_operation_of_the_url_conf():
    """The matrix is generated from the schema: an endpoint left out of it (e.g. with
    exclude=True) would escape the matrix, so the URL conf is checked against it."""
    assert _url_conf_operations() == {(path, method) for path, method, _op in OPERATIONS}


def test_the_docs_name_the_scopes_of_every_operation():
    """The schema (and so the docs) show each operation's scopes as the views declare
    them, which must be what this matrix expects; the primary key scheme (Bearer)
    describes them all."""
    spec = SchemaGenerator().get_schema(request=None, public=True)
    scheme = spec["components"]["securitySchemes"]["Bearer"]["description"]
    for scope in KEY_SCOPES.values():
        assert f"`{scope}`" in scheme, scope
    for path, method, op_id in OPERATIONS:
        op = spec["paths"][path][method]
        expected = sorted(scopes_expected(op_id, method))
        assert op["x-required-scopes"] == expected, (op_id, op["x-required-scopes"])
        line = "**API key scopes:** " + ", ".join(f"`{s}`" for s in expected) + "."
        assert line in op["description"], op_id


def test_every_schema_operation_has_a_specific_request():
    """Not required for the matrix (a new operation gets a generic request), but a
    reminder to give it a meaningful one."""
    missing = sorted(op_id for _p, _m, op_id in OPERATIONS if op_id not in API_REQUESTS)
    assert not missing, f"add a request to API_REQUESTS for: {missing}"


def test_every_account_pos_and_mail_page_is_in_the_matrix():
    """A page added to the account, the POS or the mail links must be classified here."""
    from campaigns import urls as mail_urls
    from members import urls as member_urls
    from pos import urls as pos_urls

    public = {
        "members:signup",
        "members:verify",
        "members:login",
        "members:logout",
        "members:password_reset",
        "members:password_reset_done",
        "members:password_reset_confirm",
        "members:language",  # a visitor's choice too; a member's changes only their profile
        "pos:login",
        "pos:logout",
        # The sign-up from a store's join code (a signed link) and the double opt-in
        # confirmation (a signed link to one member's consent): pages for visitors.
        "members:join_at_store",
        "members:consent_confirm",
    }
    in_matrix = {
        "members:home",
        "members:qr",
        "members:history",
        "members:profile",
        "members:rewards",
        "members:voucher_qr",
        "members:invitation",
        "members:redeem",
        "members:rotate_qr",
        "members:wallet_apple",
        "members:wallet_google",
        "members:join_club",
        "members:privacy",
        "members:export",
        "pos:index",
        "pos:member",
        "pos:sale",
        "pos:return",
        "pos:voucher",
        "pos:reward",
        "pos:register",
        "pos:store",
        "pos:scan",
        "pos:joined",
        "pos:clients",
        "pos:client_book",
        "pos:client_note",
        "pos:client_profile",
        "pos:client_wish",
        "pos:client_wish_remove",
        "pos:appointment_book",
        "pos:day",
        "pos:appointment_cancel",
        "pos:client_contact",
        "pos:outreach",
        "pos:redemption_status",
        "campaigns:open",
        "campaigns:click",
        "campaigns:unsubscribe",
        "campaigns:esp_tracking",
    }
    from members.wallet import urls as wallet_urls

    in_matrix |= {
        "wallet:apple_registration",
        "wallet:apple_serials",
        "wallet:apple_latest_pass",
        "wallet:apple_log",
    }
    names = (
        {f"members:{p.name}" for p in member_urls.urlpatterns}
        | {f"wallet:{p.name}" for p in wallet_urls.urlpatterns}
        | {f"pos:{p.name}" for p in pos_urls.urlpatterns}
        | {f"campaigns:{p.name}" for p in mail_urls.urlpatterns}
    )
    assert names - public - in_matrix == set()


# --- the cells ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """The world is built once for the module inside an outer transaction; each cell runs
    in its own savepoint (the `db` fixture nests in it), so every cell starts from the
    same state and the world is rolled back after the last cell."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(shared_world, db):
    cache.clear()  # throttles and idempotency records
    yield shared_world
    cache.clear()


def _forbidden_texts(surface: Surface, principal: str, world: World) -> list[str]:
    texts = []
    # Members may always see their own data (e.g. their e-mail in the page header).
    allowed_people = surface.may_see.get(principal, ()) + OWN.get(principal, ())
    for who in ("a", "b"):
        if who not in allowed_people:
            texts += world.private_of(who)
    if principal not in surface.hidden_tier_ok and principal not in surface.hidden_reward_ok:
        texts += [HIDDEN_TIER, HIDDEN_BENEFIT]
    if principal not in surface.hidden_reward_ok:
        texts += [SECRET_REWARD, SECRET_CLUB]
    return [t for t in texts if t]


def _request(client: Client, surface: Surface, world: World):
    path = surface.path(world)
    data = surface.data(world) if surface.data else {}
    if surface.area == "api":
        if surface.method == "get":
            return client.get(path, data)
        return getattr(client, surface.method)(
            path, json.dumps(data), content_type="application/json"
        )
    if surface.method == "get":
        return client.get(path, data)
    return client.post(path, data)


@pytest.mark.parametrize(("principal", "surface"), CASES)
def test_cell(principal, surface, world):
    client = client_for(principal, world)
    client.raise_request_exception = False
    try:
        expect = surface.expect.get(principal) or default_expect(surface.area, principal)
    except KeyError:
        pytest.fail(f"no expectation for {principal} on {surface.label}")
    before = snapshot()

    response = _request(client, surface, world)

    status = response.status_code
    body = response.content.decode("utf-8", "replace")
    where = f"{principal} {surface.method.upper()} {surface.path(world)} -> {status}"
    assert status < 500, where + "\n" + body[:2000]
    assert status in expect.statuses, where + "\n" + body[:1000]
    if expect.redirect:
        login = reverse(expect.redirect)
        assert response["Location"].startswith(login + "?next="), (where, response["Location"])
    if surface.area == "api":
        assert response["Content-Type"].startswith("application/json"), where
        if status >= 400:
            assert set(response.json()) == {"error"}, where
        if status == 401:
            assert response["WWW-Authenticate"] == "Bearer", where
    # The body and the redirect target (a query string can carry data too); a login
    # redirect's ?next= only echoes the URL the principal asked for.
    location = response.get("Location", "").split("?next=")[0]
    lowered = (body + " " + location).lower()
    # What the principal sent (a code in the URL, a form field) may be echoed back.
    sent = (surface.path(world) + json.dumps(surface.data(world) if surface.data else {})).lower()
    for text in _forbidden_texts(surface, principal, world):
        if text.lower() not in sent:
            assert text.lower() not in lowered, f"{where}: leaks {text!r}"
    for text in expect.contains:
        assert text in body, f"{where}: should show {text!r}"
    if expect.check:
        expect.check(response, world, principal)
    # GETs write nothing, except the mail links (an open, a click, an unsubscribe is what
    # they record).
    allowed_write = expect.writes and (surface.method != "get" or surface.area == "mail")
    if not allowed_write:
        assert snapshot() == before, f"{where}: changed data"


# --- explicit checks named in the issue -----------------------------------------------------


def test_member_a_gets_404_for_member_bs_voucher_qr_and_vice_versa(world):
    a, b = client_for("member_a", world), client_for("member_b", world)
    assert a.get(reverse("members:voucher_qr", args=[world.voucher_b])).status_code == 404
    assert b.get(reverse("members:voucher_qr", args=[world.voucher_a])).status_code == 404
    assert b.get(reverse("members:voucher_qr", args=[world.voucher_a_secret])).status_code == 404
    # ... and case games do not help (codes are matched exactly).
    lower = world.voucher_b.lower()
    assert a.get(reverse("members:voucher_qr", args=[lower])).status_code == 404


def test_the_member_session_cookie_does_not_authenticate_the_api(world):
    for principal in SESSION_PRINCIPALS[1:]:
        client = client_for(principal, world)
        assert "sessionid" in client.cookies
        for path in (
            f"/api/v1/members/{world.b.number}/",
            f"/api/v1/members/lookup/?code={world.b.number}",
            "/api/v1/tiers/",
        ):
            response = client.get(path)
            assert response.status_code == 401, (principal, path)
            assert response.json()["error"]["code"] == "not_authenticated"


def test_a_store_bound_key_cannot_act_for_store_b(world):
    client = client_for("key_store_a", world)
    before = snapshot()
    sale = {
        "member": world.b.number,
        "store": "london",
        "receipt_id": "X-1",
        "amount": "10.00",
        "currency": "GBP",
    }
    for path, body in (
        ("/api/v1/purchases/", sale),
        ("/api/v1/purchases/", {**sale, "store": "LONDON"}),
        (
            "/api/v1/returns/",
            {"store": "london", "receipt_id": "L-1", "return_id": "X", "amount": "1.00"},
        ),
        (f"/api/v1/vouchers/{world.voucher_b}/redeem/", {"store": "london"}),
    ):
        response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code in (400, 403, 404), (path, body, response.content)
        assert response.status_code != 201
    assert snapshot() == before


def test_hidden_tier_never_in_the_public_tier_list_or_b_s_answers(world):
    for principal in KEY_PRINCIPALS:
        client = client_for(principal, world)
        for path in (
            "/api/v1/tiers/",
            f"/api/v1/members/{world.b.number}/",
            f"/api/v1/members/{world.b.number}/rewards/",
            f"/api/v1/members/lookup/?code={world.b.number}",
            f"/api/v1/members/{world.b.number}/clubs/",
        ):
            body = client.get(path).content.decode().lower()
            assert "ambassador" not in body, (principal, path)
            assert SECRET_REWARD.lower() not in body, (principal, path)
            assert SECRET_CLUB.lower() not in body, (principal, path)


# --- mail links: signed values of one kind used as the other ---------------------------------


def test_the_open_pixel_with_a_signed_link_as_its_token_is_not_a_500(world):
    client = Client()
    client.raise_request_exception = False
    before = snapshot()
    response = client.get(reverse("campaigns:open", args=[world.mail["signed_url"]]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert snapshot() == before


@pytest.mark.parametrize("swap", ["token as target", "target as token"])
def test_the_click_link_with_swapped_signed_values_is_a_400(world, swap):
    client = Client()
    client.raise_request_exception = False
    before = snapshot()
    if swap == "token as target":
        url = reverse("campaigns:click", args=[world.mail["track"]])
        response = client.get(url, {"u": world.mail["track"]})
    else:
        url = reverse("campaigns:click", args=[world.mail["signed_url"]])
        response = client.get(url, {"u": world.mail["signed_url"]})
    assert response.status_code == 400
    assert snapshot() == before
