"""The member's activity in words for people, in the member's language.

Each ledger entry is told from its kind and the facts behind it (the store of the sale,
the reward, the club, the challenge, the campaign's member-facing label), looked up at
display time from the entry's key (`purchase:<id>`, `redeem:<voucher id>`, ...), a few
queries for a whole page. The stored `reason` is the console's audit text (English, with
receipt numbers and rule names) and is never shown to members.

An edge like the pages it serves: it reads the apps above members (checked in
pyproject.toml: no domain module imports it).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from campaigns.models import Award, ChallengeEnrolment, ClubMembership, Voucher
from loyalty.kernel.translated import localized
from pos.models import Channel, Purchase, Return

from .models import LedgerEntry


@dataclass(frozen=True)
class ActivityLine:
    occurred_at: datetime
    carats: int
    text: str


def _where(purchase: Purchase | None) -> str:
    if purchase is None:
        return ""
    if purchase.store_id:
        return purchase.store.name
    return _("our online boutique") if purchase.channel == Channel.ONLINE else ""


def _ids(entries, prefix: str) -> set[int]:
    out = set()
    for e in entries:
        head, _sep, rest = e.key.partition(":")
        if head == prefix:
            value = rest.split(":")[0]
            if value.isdigit():
                out.add(int(value))
    return out


def _facts(entries: list[LedgerEntry]) -> dict:
    purchases = Purchase.objects.select_related("store").filter(pk__in=_ids(entries, "purchase"))
    retro_keys = [e.key.removeprefix("retro:") for e in entries if e.key.startswith("retro:")]
    retro = Purchase.objects.select_related("store").filter(receipt_key__in=retro_keys)
    returns = Return.objects.select_related("purchase__store").filter(
        pk__in=_ids(entries, "return")
    )
    vouchers = Voucher.objects.select_related("reward").filter(
        pk__in=_ids(entries, "redeem") | _ids(entries, "refund")
    )
    clubs = ClubMembership.objects.select_related("club").filter(pk__in=_ids(entries, "club"))
    enrolments = ChallengeEnrolment.objects.select_related("challenge").filter(
        pk__in=_ids(entries, "challenge") | _ids(entries, "challenge-undo")
    )
    facts = {
        "purchase": {p.pk: p for p in purchases},
        "retro": {p.receipt_key: p for p in retro},
        "return": {r.pk: r for r in returns},
        "voucher": {v.pk: v for v in vouchers},
        "club": {m.pk: m for m in clubs},
        "challenge": {e.pk: e for e in enrolments},
    }
    # The campaigns that added to each sale, by their member-facing label.
    labels: dict[str, list[str]] = defaultdict(list)
    receipt_keys = [p.receipt_key for p in facts["purchase"].values()]
    if receipt_keys:
        awards = Award.objects.select_related("earning_rule").filter(
            reference__in=receipt_keys, earning_rule__isnull=False, carats__gt=0
        )
        for award in awards.order_by("id"):
            label = localized(award.earning_rule, "member_label")
            if label and label not in labels[award.reference]:
                labels[award.reference].append(label)
    facts["labels"] = labels
    return facts


_ACTIONS = {
    "signup": lambda: _("Welcome gift for joining the club"),
    "profile_completed": lambda: _("Thank you for completing your profile"),
    "sms_opt_in": lambda: _("Thank you for accepting our text messages"),
    "review": lambda: _("Thank you for your review"),
    "review_photo": lambda: _("Thank you for your review with a photo"),
    "social_follow": lambda: _("Thank you for following us"),
    "referral_referrer": lambda: _("Your friend made a first purchase"),
    "referral_friend": lambda: _("Welcome gift from your friend's invitation"),
    "ugc": lambda: _("Thank you for sharing your story"),
    "event_attendance": lambda: _("Thank you for coming to our event"),
}


def _action_text(entry: LedgerEntry) -> str:
    # action:<type>:<member>:<reference>
    parts = entry.key.split(":", 3)
    action = parts[1] if len(parts) > 1 else ""
    reference = parts[3] if len(parts) > 3 else ""
    award = (
        Award.objects.select_related("action_rule")
        .filter(member_id=entry.member_id, action_rule__action=action, reference=reference)
        .first()
    )
    label = localized(award.action_rule, "member_label") if award else ""
    return label or _ACTIONS.get(action, lambda: _("Bonus carats from the club"))()


def _text(e: LedgerEntry, facts: dict) -> str:
    n = abs(e.carats)
    head, _sep, rest = e.key.partition(":")
    ref = rest.split(":")[0]
    ref_id = int(ref) if ref.isdigit() else None
    if head in ("purchase", "retro"):
        p = facts["purchase"].get(ref_id) if head == "purchase" else facts["retro"].get(rest)
        where = _where(p)
        labels = facts["labels"].get(p.receipt_key, []) if p else []
        text = (
            _("You earned %(n)s carats at %(where)s") % {"n": n, "where": where}
            if where
            else _("You earned %(n)s carats on a purchase") % {"n": n}
        )
        return f"{text} · {', '.join(labels)}" if labels else text
    if head == "return":
        r = facts["return"].get(ref_id)
        where = _where(r.purchase) if r else ""
        if where:
            return _("%(n)s carats taken back for a return at %(where)s") % {"n": n, "where": where}
        return _("%(n)s carats taken back for a return") % {"n": n}
    if head in ("redeem", "refund"):
        v = facts["voucher"].get(ref_id)
        what = (localized(v.reward, "name") if v and v.reward_id else (v.title if v else "")) or ""
        if head == "refund":
            return _("%(n)s carats back: your voucher for %(what)s was cancelled") % {
                "n": n,
                "what": what,
            }
        return _("You chose %(what)s for %(n)s carats") % {"n": n, "what": what}
    if head == "club":
        m = facts["club"].get(ref_id)
        return _("You joined %(club)s") % {"club": localized(m.club, "name") if m else ""}
    if head in ("challenge", "challenge-undo"):
        en = facts["challenge"].get(ref_id)
        name = localized(en.challenge, "name") if en else ""
        if head == "challenge-undo":
            return _("Challenge bonus taken back after a return: %(name)s") % {"name": name}
        return _("Challenge completed: %(name)s") % {"name": name}
    if head == "action":
        return _action_text(e)
    if e.kind == LedgerEntry.Kind.BIRTHDAY:
        return _("Happy birthday! A gift of %(n)s carats") % {"n": n}
    if e.kind == LedgerEntry.Kind.EXPIRY:
        return _("%(n)s carats expired") % {"n": n}
    if head == "gift":
        return _("A gift from the club")
    if e.kind == LedgerEntry.Kind.ADJUSTMENT:
        return _("Correction by the club") if e.carats < 0 else _("Carats added by the club")
    return _("Bonus carats from the club")


def activity_lines(entries) -> list[ActivityLine]:
    """The entries (a page of the member's ledger) as lines for people, in order."""
    entries = list(entries)
    facts = _facts(entries) if entries else {}
    return [ActivityLine(e.occurred_at, e.carats, _text(e, facts)) for e in entries]


def activity_line(key: str) -> str | None:
    """One entry's line, by its key (e.g. the carats a profile change just earned)."""
    entry = LedgerEntry.objects.filter(key=key).first()
    return activity_lines([entry])[0].text if entry else None
