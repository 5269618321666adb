"""The sandbox for staff-written mail texts (trigger e-mails and broadcasts).

Marketing writes subjects and bodies in the console. They are NOT Django templates: a
Django template reaches any attribute of the objects it is given (a preview once showed
`{{ member.user.password }}`), and its tags and filters load, include and format. Here a
text is plain text with `{{ name }}` placeholders, and a name is looked up in a plain
dict of prepared strings (the documented VARIABLES); there is no attribute traversal, no
tag and no filter. A text with anything else is refused when it is saved (see
`validate_mail_text`, a validator on every mail text field); a stored text that predates
the check renders unknown names and tags as nothing.

Rendering returns pieces marked staff-written or not, so that only links that staff
wrote (or the site's own links) become tracked links; a member's first name that looks
like a URL stays plain text."""

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

# name -> what it holds (shown beside the text fields in the console).
VARIABLES: dict[str, str] = {
    "first_name": "the member's first name",
    "last_name": "the member's last name",
    "balance": "carats on the card",
    "tier": "the member's tier",
    "next_tier": "the next tier (empty at the top)",
    "carats_to_next_tier": "carats still needed for the next tier",
    "tier_deadline": "tier about to be lost: the date a purchase keeps the tier",
    "gift": "the gift inside this mail (carats and/or reward)",
    "challenges": "the member's active challenges, one per line",
    "basket": "basket left in the web shop: the items, one per line",
    "expiring_carats": "carats about to expire: how many",
    "expiry_date": "carats about to expire: the date",
    "club": "club membership ends soon: the club",
    "club_ends": "club membership ends soon: the date",
    "program": "the program's name (the brand setting)",
    "site_url": "the site's address",
    "account_url": "link to the member's account",
    "rewards_url": "link to the rewards",
    "profile_url": "link to the member's profile",
    "questionnaire_link": "thank-you mail: link to the questionnaire about the purchase",
}

# Values the program itself writes (links to the site): links inside them are tracked
# like the links staff typed. Every other value may come from a member.
TRUSTED = frozenset(
    {"program", "site_url", "account_url", "rewards_url", "profile_url", "questionnaire_link"}
)

# Names older texts used when they were Django templates; they keep working.
ALIASES: dict[str, str] = {
    "member.first_name": "first_name",
    "member.last_name": "last_name",
    "member.balance": "balance",
    "tier.name": "tier",
    "carats": "expiring_carats",
    "lines": "basket",
    "membership.club.name": "club",
    "membership.ends_at": "club_ends",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
# Anything that looks like template syntax: {{ ... }}, {% ... %}, {# ... #}.
_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_OPENERS = re.compile(r"\{\{|\{%|\{#")

HELP_TEXT = format_lazy(
    "{} {}",
    _(
        "Plain text with variables written as {{ first_name }}; no other template syntax. "
        "Links you write are tracked. Variables:"
    ),
    "; ".join(f"{{{{ {name} }}}} {desc}" for name, desc in VARIABLES.items()),
)

SUBJECT_HELP_TEXT = _("The same variables as the body, e.g. {{ first_name }}.")


def _known(name: str) -> str | None:
    name = ALIASES.get(name, name)
    return name if name in VARIABLES else None


def validate_mail_text(value: str) -> None:
    """Refuse a text that uses anything but the documented variables."""
    problems = []
    for match in _SYNTAX.finditer(value or ""):
        token = match.group(0)
        placeholder = _PLACEHOLDER.fullmatch(token)
        if placeholder is None:
            if token.startswith("{%"):
                problems.append(
                    _("%(token)s: tags such as {%% for %%} or {%% if %%} are not allowed.")
                    % {"token": token}
                )
            else:
                problems.append(
                    _("%(token)s: only a variable name may stand between {{ and }}.")
                    % {"token": token}
                )
        elif _known(placeholder.group(1)) is None:
            problems.append(
                _("%(token)s is not a known variable; see the list under the field.")
                % {"token": token}
            )
    rest = _SYNTAX.sub("", value or "")
    if _OPENERS.search(rest):
        problems.append(_("A {{, {% or {# is not closed."))
    if problems:
        raise ValidationError(problems, code="mail_text")


def render_pieces(text: str, values: Mapping[str, object]) -> list[tuple[str, bool]]:
    """[(piece, staff_written)]: the text with its variables replaced by `values`
    (prepared strings; an unknown name, a missing value or any other syntax renders as
    nothing). Pieces from TRUSTED variables count as staff-written."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for match in _SYNTAX.finditer(text or ""):
        pieces.append((text[pos : match.start()], True))
        pos = match.end()
        placeholder = _PLACEHOLDER.fullmatch(match.group(0))
        name = _known(placeholder.group(1)) if placeholder else None
        if name is None:
            continue
        value = values.get(name)
        value = "" if value is None else str(value)
        pieces.append((value, name in TRUSTED))
    pieces.append(((text or "")[pos:], True))
    # Merge neighbours of the same kind: a staff link built from {{ site_url }}/account/
    # is one piece.
    merged: list[tuple[str, bool]] = []
    for piece, staff in pieces:
        if not piece:
            continue
        if merged and merged[-1][1] == staff:
            merged[-1] = (merged[-1][0] + piece, staff)
        else:
            merged.append((piece, staff))
    return merged


def render(text: str, values: Mapping[str, object]) -> str:
    return "".join(piece for piece, _staff in render_pieces(text, values))


def names(text: str) -> set[str]:
    """The documented variables the text places."""
    return {n for m in _PLACEHOLDER.finditer(text or "") if (n := _known(m.group(1)))}


def uses(text: str, name: str) -> bool:
    """Does the text place the variable `name`?"""
    return name in names(text)
