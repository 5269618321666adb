"""The console's roles, in code: the one definition the demo, the tests and production use.

`manage.py setup_roles` writes them (idempotent; run it on every deploy, `make run` and
the demo loader do), `role_grant` gives one to a login. A role is a Django group whose
permissions are exactly the ones listed here: a permission added by hand in the console is
taken away again on the next deploy.

- **Marketing** runs the program: members, tiers, earning rules and campaigns, rewards,
  vouchers, clubs, segments, trigger and broadcast e-mails, the dashboard and the history
  import. It sees no plumbing: no logins or groups, no periodic tasks (the background
  jobs), no API keys, no webhooks (their secrets), no outbox, no KPI rollup tables; it
  views stores but changes none.
- **Store manager** manages the staff of their own stores (the stores they are staff of)
  and nothing else: a store's code, currency and time zone are the superuser's. On the POS
  page, the whole store's outreach list (store staff see their own clients' and the
  clients without an associate).
- **Store staff** work the POS scan page of their stores (a store's staff list); no console.
  They see the client book of their stores' clients (registered, bought or scanned there).
- Marketing views every store's client book in the console (read-only).
- **Integration admin** manages API keys (a till key's store is fixed when it is made) and
  webhook endpoints and deliveries; it views stores.

What keeps the program correct is deleted from the console by a superuser only, whatever
the permissions say (SUPERUSER_DELETE_ONLY; the console enforces it): the ledger, the
message log (the claim that sends each trigger e-mail once), the tier history and
statuses, and the periodic tasks and their schedules. Tiers in use (by a member, the tier
history, an invitation, a reward, a club or a rule) cannot be deleted by anyone.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q

ALL = ("add", "change", "delete", "view")
EDIT = ("add", "change", "view")
VIEW = ("view",)

MARKETING = "Marketing"
STORE_MANAGER = "Store manager"
STORE_STAFF = "Store staff"
INTEGRATION_ADMIN = "Integration admin"


@dataclass(frozen=True)
class Role:
    description: str
    console: bool  # the login may sign in to the console (is_staff)
    permissions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "app.model": actions


ROLES: dict[str, Role] = {
    MARKETING: Role(
        "Runs the loyalty program in the console; sees no plumbing.",
        console=True,
        permissions={
            "members.member": EDIT,
            "members.ledgerentry": VIEW,
            "members.consentchange": VIEW,
            "members.ambassadorcandidate": VIEW,
            "tiers.tier": ALL,  # a tier in use cannot be deleted (the console checks)
            "tiers.membertier": VIEW,
            "tiers.tierchange": VIEW,
            "tiers.invitation": VIEW,
            "campaigns.program": ("change", "view"),
            "campaigns.earningrule": ALL,
            "campaigns.actionrule": ALL,
            "campaigns.award": VIEW,
            "campaigns.heldcarats": ("change", "view"),
            "campaigns.reward": ALL,
            "campaigns.voucher": ("change", "view"),
            "campaigns.club": ALL,
            "campaigns.clubmembership": VIEW,
            "campaigns.birthdaygift": VIEW,
            "campaigns.segment": ALL,
            "campaigns.segmentcondition": ALL,
            "campaigns.triggerconfig": EDIT,
            "campaigns.broadcast": ALL,
            "campaigns.mailvariant": ALL,  # the A/B variants, inline on a mail
            "campaigns.messagelog": VIEW,
            "campaigns.giveaway": EDIT,
            "campaigns.rental": EDIT,
            "campaigns.challenge": ALL,
            "campaigns.challengeenrolment": VIEW,
            "campaigns.badge": ALL,
            # The product catalog (the ERP syncs it; marketing corrects and uploads it).
            "campaigns.category": ALL,
            "campaigns.product": EDIT,
            "campaigns.popularproduct": VIEW,
            "pos.questionnaireanswer": VIEW,
            "pos.store": VIEW,
            "pos.exchangerate": ("add", "view"),
            "pos.purchase": ("add", "view"),  # add: the history import
            "pos.purchaseline": VIEW,
            "pos.return": VIEW,
            # The client book of every store (written at the counter only).
            "pos.clientnote": VIEW,
            "pos.clientprofile": VIEW,
            "pos.wishlistitem": VIEW,
            "pos.appointment": VIEW,
            "pos.clientcontact": VIEW,
        },
    ),
    STORE_MANAGER: Role(
        "Manages the staff of their own stores.",
        console=True,
        permissions={"pos.store": ("change", "view")},
    ),
    STORE_STAFF: Role("Works the POS scan page of their stores.", console=False),
    INTEGRATION_ADMIN: Role(
        "Manages API keys and webhooks.",
        console=True,
        permissions={
            "pos.apikey": EDIT,
            "pos.store": VIEW,
            "loyalty.webhookendpoint": ALL,
            "loyalty.webhookevent": VIEW,
            "loyalty.webhookdelivery": ("change", "view"),
        },
    ),
}

# Deleted from the console by a superuser only, whatever a login's permissions say.
SUPERUSER_DELETE_ONLY = (
    "members.ledgerentry",
    "campaigns.messagelog",
    "tiers.membertier",
    "tiers.tierchange",
    "django_celery_beat.periodictask",
    "django_celery_beat.periodictasks",
    "django_celery_beat.intervalschedule",
    "django_celery_beat.crontabschedule",
    "django_celery_beat.solarschedule",
    "django_celery_beat.clockedschedule",
)


def _permissions(spec: dict[str, tuple[str, ...]]) -> list[Permission]:
    wanted = {
        (label.split(".")[0], f"{action}_{label.split('.')[1]}")
        for label, actions in spec.items()
        for action in actions
    }
    if not wanted:
        return []
    query = Q()
    for app_label, codename in wanted:
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        raise ImproperlyConfigured(
            f"Unknown permissions in loyalty.kernel.roles (migrate first?): {sorted(missing)}"
        )
    return found


def roles_apply() -> dict[str, int]:
    """Create or update every role's group with exactly its permissions (idempotent)."""
    counts = {}
    with transaction.atomic():
        for name, role in ROLES.items():
            group, _ = Group.objects.get_or_create(name=name)
            permissions = _permissions(role.permissions)
            group.permissions.set(permissions)
            counts[name] = len(permissions)
    return counts


def role_grant(*, user, role: str, stores: Iterable = ()) -> None:
    """Give a login a role (its group; console access if the role has it) and, for the
    store roles, make it staff of the given stores."""
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; roles: {', '.join(ROLES)}")
    group = Group.objects.filter(name=role).first()
    if group is None:
        roles_apply()
        group = Group.objects.get(name=role)
    with transaction.atomic():
        if ROLES[role].console and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
        for store in stores:
            store.staff.add(user)
