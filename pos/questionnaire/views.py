"""The questionnaire page: opened from the thank-you mail's signed link, no login, in
the member's language, with the brand of the member pages."""

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from campaigns.services.earning import program
from loyalty.kernel.errors import DomainError
from loyalty.kernel.translated import localized

from .forms import QuestionnaireForm
from .services import (
    AlreadyAnswered,
    answer_for,
    questionnaire_answer,
    questionnaire_purchase,
)

TEMPLATE = "questionnaire/questionnaire.html"


@never_cache
@require_http_methods(["GET", "POST"])
def questionnaire(request, token):
    if len(token) > 200:
        return render(request, TEMPLATE, {"invalid": True}, status=400)
    try:
        purchase = questionnaire_purchase(token)
    except DomainError as exc:
        return render(
            request, TEMPLATE, {"invalid": True, "message": exc.message}, status=exc.status
        )
    member = purchase.member
    if member.language in dict(settings.LANGUAGES):
        translation.activate(member.language)  # the member's language, as in the mail
        request.LANGUAGE_CODE = member.language
    reward = program().questionnaire_reward
    context = {
        "member": member,
        "purchase": purchase,
        "reward_name": localized(reward, "name") if reward else "",
    }
    done = answer_for(purchase)
    if done is not None:
        return render(request, TEMPLATE, {**context, "answered": done, "again": True})
    form = QuestionnaireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = questionnaire_answer(
                purchase=purchase, answers=form.cleaned_data, language=member.language
            )
        except AlreadyAnswered:
            return render(
                request, TEMPLATE, {**context, "answered": answer_for(purchase), "again": True}
            )
        return render(request, TEMPLATE, {**context, "answered": result.answer, "fresh": True})
    status = 400 if request.method == "POST" else 200
    return render(request, TEMPLATE, {**context, "form": form}, status=status)
