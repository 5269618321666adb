"""The thank-you questionnaire: which purchase a link is for, and the answer that grants
the program's questionnaire voucher exactly once per purchase.

Exactly once: the answer's row is unique per purchase and is inserted before the voucher
is issued, in one transaction. Two submits at the same moment both try the insert; the
second waits on the unique index until the first commits, then fails there and rolls
back whole, so it grants nothing."""

from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.models import Voucher
from campaigns.questionnaire import LinkExpired, questionnaire_purchase_id
from campaigns.services.earning import program
from campaigns.services.rewards import voucher_issue_gift
from loyalty.kernel.errors import Conflict, DomainError, NotFound
from members.services import member_update
from pos.models import Purchase

from .models import QuestionnaireAnswer

ANSWER_FIELDS = (
    "satisfaction",
    "bought_for",
    "metal",
    "stone",
    "style",
    "ring_size",
    "partner_birthday",
    "wedding_anniversary",
)


class AlreadyAnswered(Conflict):
    code = "already_answered"


class QuestionnaireLinkExpired(DomainError):
    code = "link_expired"
    status = 410


def questionnaire_purchase(token: str) -> Purchase:
    """The purchase of a genuine, unexpired link whose member is not erased."""
    try:
        purchase_id = questionnaire_purchase_id(token)
    except LinkExpired:
        raise QuestionnaireLinkExpired(
            gettext_noop("This questionnaire link has expired.")
        ) from None
    purchase = (
        Purchase.objects.select_related("member").filter(pk=purchase_id).first()
        if purchase_id
        else None
    )
    if purchase is None or purchase.member.erased_at is not None:
        raise NotFound(gettext_noop("This questionnaire link is not valid."), code="bad_link")
    return purchase


def answer_for(purchase: Purchase) -> QuestionnaireAnswer | None:
    return QuestionnaireAnswer.objects.select_related("voucher").filter(purchase=purchase).first()


@dataclass(frozen=True)
class Answered:
    answer: QuestionnaireAnswer
    voucher: Voucher | None


def questionnaire_answer(*, purchase: Purchase, answers: dict, language: str = "") -> Answered:
    """Record the answers to `purchase`'s questionnaire and grant the program's
    questionnaire voucher (if one is configured). A second answer for the same purchase
    raises AlreadyAnswered and changes nothing. `answers` are clean values (the form's);
    the important dates the member's profile lacks are copied to it."""
    data = {k: answers.get(k) for k in ANSWER_FIELDS}
    for key in ("metal", "stone", "style"):
        data[key] = data[key] or ""
    member = purchase.member
    reward = program().questionnaire_reward
    try:
        with transaction.atomic():
            answer = QuestionnaireAnswer.objects.create(
                member=member,
                purchase=purchase,
                answered_at=timezone.now(),
                language=(language or "")[:8],
                **data,
            )
            voucher = None
            if reward is not None:
                voucher = voucher_issue_gift(member=member, reward=reward, source="questionnaire")
                QuestionnaireAnswer.objects.filter(pk=answer.pk).update(voucher=voucher)
                answer.voucher = voucher
            _profile_dates(member, data)
    except IntegrityError:
        if QuestionnaireAnswer.objects.filter(purchase=purchase).exists():
            raise AlreadyAnswered(
                gettext_noop("This purchase's questionnaire was already answered.")
            ) from None
        raise
    return Answered(answer, voucher)


def _profile_dates(member, data: dict) -> None:
    """The wedding anniversary the profile does not have yet (the wedding mail uses it)."""
    wedding: date | None = data.get("wedding_anniversary")
    if wedding and member.wedding_anniversary is None:
        member_update(member=member, source="questionnaire", wedding_anniversary=wedding)
