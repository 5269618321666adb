"""A/B tests of a mail's subject and body: which texts a message is written with, and the
automatic winner.

A trigger or broadcast with variants (2-4 MailVariant rows) splits its audience evenly and
stably: the experiments' hash of the mail and the member's id, salted apart from the
holdout, picks one variant per member (the same one at every send). The chosen texts are
decided before rendering (`message_texts`), so the rendering itself does not change; the
variant is written on the message log row when the mail is sent.

Automatic winner (optional, `winner_after_days`): once the first variant was sent that
many days ago, the variant with the most clicks per mail sent (or purchases per mail sent,
`winner_by`) wins; every mail sent from then on — the trigger's future occasions, and a
broadcast's mails still on their way — uses the winner. Clicks are the default measure:
opens are distorted by mail privacy proxies, and purchases within a few days are too rare
to separate variants on a normal audience. A tie goes to the variant sent more often, then
to the first one."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone

from campaigns import experiments
from campaigns.models import Broadcast, MailVariant, MessageLog, TriggerConfig
from members.models import Member


@dataclass(frozen=True)
class ChosenTexts:
    """The subject and body a message is written with (what rendering reads)."""

    trigger: str
    variant: MailVariant

    def texts(self, language: str) -> tuple[str, str]:
        return self.variant.texts(language)

    def mail_language(self, language: str) -> str:
        return self.variant.mail_language(language)


def _mail_key(source) -> str:
    kind = "broadcast" if isinstance(source, Broadcast) else "trigger"
    return experiments.experiment_key(kind, source.pk)


def message_variant(log: MessageLog, source) -> MailVariant | None:
    """The variant of `source` (a TriggerConfig or Broadcast) that `log`'s member reads:
    the winner once there is one, else the member's share of the even split; None when
    the mail has no variants."""
    if source is None:
        return None
    if source.winner_id:
        return source.winner
    variants = list(source.variants.all())
    if len(variants) < 2:
        return None
    return variants[experiments.variant_index(_mail_key(source), log.member_id, len(variants))]


def message_texts(log: MessageLog, source):
    """The texts `log` is rendered with: `source` itself, or the chosen variant (then
    `log.variant` is set, for the sender to record)."""
    variant = message_variant(log, source)
    if variant is None:
        return source
    log.variant = variant
    return ChosenTexts(trigger=getattr(source, "trigger", ""), variant=variant)


def variant_results(source, *, days: int) -> list[dict]:
    """Per variant of `source`: mails sent, opened, clicked, and members who bought within
    `days` days of the mail. One grouped query."""
    logs = MessageLog.objects.filter(variant__in=source.variants.all(), status="sent")
    bought = Exists(
        Member.objects.filter(
            pk=OuterRef("member_id"),
            purchases__occurred_at__gte=OuterRef("sent_at"),
            purchases__occurred_at__lt=OuterRef("sent_at") + timedelta(days=days),
        )
    )
    counts = {
        r["variant"]: r
        for r in logs.annotate(bought=bought)
        .values("variant")
        .annotate(
            sent=Count("id"),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            purchases=Count("id", filter=Q(bought=True)),
        )
    }
    out = []
    for v in source.variants.all():
        r = counts.get(v.pk, {"sent": 0, "opened": 0, "clicked": 0, "purchases": 0})
        sent = r["sent"]
        out.append(
            {
                "variant": v,
                "sent": sent,
                "opened": r["opened"],
                "clicked": r["clicked"],
                "purchases": r["purchases"],
                "click_rate": round(100 * r["clicked"] / sent, 1) if sent else None,
                "purchase_rate": round(100 * r["purchases"] / sent, 1) if sent else None,
                "winner": v.pk == source.winner_id,
            }
        )
    return out


def _pick(results: list[dict], by: str) -> MailVariant | None:
    measure = "clicked" if by == "clicks" else "purchases"
    sent = [r for r in results if r["sent"]]
    if not sent:
        return None
    best = max(sent, key=lambda r: (r[measure] / r["sent"], r["sent"], -r["variant"].pk))
    return best["variant"]


def variant_winners_choose(*, now: datetime | None = None) -> int:
    """Daily: choose the winner of every A/B test whose time has come (see the module's
    note). Returns how many winners were chosen. Safe to run twice: a mail with a winner
    is not looked at again."""
    now = now or timezone.now()
    chosen = 0
    for model in (TriggerConfig, Broadcast):
        for source in model.objects.filter(winner_after_days__isnull=False, winner__isnull=True):
            first = MessageLog.objects.filter(
                variant__in=source.variants.all(), status="sent"
            ).aggregate(at=Min("sent_at"))["at"]
            if first is None or first > now - timedelta(days=source.winner_after_days):
                continue
            results = variant_results(source, days=source.winner_after_days)
            winner = _pick(results, source.winner_by)
            if winner is None:
                continue
            # Conditional: a winner set meanwhile (by hand or a second run) is kept.
            chosen += model.objects.filter(pk=source.pk, winner__isnull=True).update(
                winner=winner, winner_chosen_at=now
            )
    return chosen
