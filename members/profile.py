"""The member's profile fields, declared once: what each is called, who may change it,
whether it is personal data and whether it goes out in the webhooks. The lists every
output needs are made from this table, in its order: the export (loyalty.console.privacy),
the console's member form (its sections), the member's own profile form, member_update,
the erasure and the webhook payload and what an erasure blanks in it. A new profile
field is added here once.

The account's facts (balance, purchases, codes) are not profile fields: the program
writes them, nobody edits them."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ProfileField:
    name: str  # the Member attribute
    label: str
    # The console's member form: "identity" (at the top), "profile" or "consent".
    section: str
    # member_update changes it (the member's page, the console, the API); consents and
    # the e-mail have rules of their own there.
    updatable: bool = False
    member_edits: bool = False  # on the member's own profile page
    # Personal data: the erasure blanks it (the export shows every profile field).
    personal: bool = False
    # Names the person or reaches them: blanked in the webhook payloads kept after an
    # erasure (personal data that is also in the payload).
    identifying: bool = False
    # Its place in the member events' payload (None: not sent), and its key there.
    webhook: int | None = None
    webhook_key: str = ""

    @property
    def event_key(self) -> str:
        return self.webhook_key or self.name


PROFILE = (
    ProfileField("member_number", _("Member number"), "identity", webhook=0, webhook_key="member"),
    ProfileField("email", _("E-mail"), "identity", personal=True, identifying=True, webhook=1),
    ProfileField(
        "first_name",
        _("First name"),
        "identity",
        updatable=True,
        member_edits=True,
        personal=True,
        identifying=True,
        webhook=2,
    ),
    ProfileField(
        "last_name",
        _("Last name"),
        "identity",
        updatable=True,
        member_edits=True,
        personal=True,
        identifying=True,
        webhook=3,
    ),
    ProfileField(
        "phone",
        _("Phone"),
        "identity",
        updatable=True,
        member_edits=True,
        personal=True,
        identifying=True,
        webhook=4,
    ),
    ProfileField(
        "birth_date",
        _("Birth date"),
        "profile",
        updatable=True,
        member_edits=True,
        personal=True,
        identifying=True,
    ),
    ProfileField(
        "wedding_anniversary",
        _("Wedding anniversary"),
        "profile",
        updatable=True,
        member_edits=True,
        personal=True,
        identifying=True,
    ),
    ProfileField(
        "language", _("Language"), "profile", updatable=True, member_edits=True, webhook=5
    ),
    ProfileField("country", _("Country"), "profile", updatable=True, personal=True, webhook=6),
    ProfileField("time_zone", _("Time zone"), "profile", updatable=True),
    ProfileField("source", _("Joined through"), "profile", webhook=8),
    ProfileField(
        "external_id",
        _("External id"),
        "profile",
        updatable=True,
        personal=True,
        identifying=True,
        webhook=7,
    ),
    ProfileField("joined_at", _("Joined"), "profile"),
    ProfileField("email_opt_in", _("Marketing e-mails"), "consent", webhook=9),
    ProfileField("email_opt_in_at", _("Marketing e-mails since"), "consent"),
    ProfileField("sms_opt_in", _("Text messages"), "consent", webhook=10),
    ProfileField("sms_opt_in_at", _("Text messages since"), "consent"),
)
FIELDS = {f.name: f for f in PROFILE}


def names(**flags) -> tuple[str, ...]:
    """The profile fields' names, in the table's order, that have every flag given:
    names(updatable=True), names(section="consent")."""
    return tuple(f.name for f in PROFILE if all(getattr(f, k) == v for k, v in flags.items()))


def webhook_fields() -> list[ProfileField]:
    """The fields of the member events' payload, in the payload's order."""
    return sorted((f for f in PROFILE if f.webhook is not None), key=lambda f: f.webhook)
