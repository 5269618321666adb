"""Public mail endpoints: open pixel, click redirect, one-click unsubscribe."""

import base64

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .services.crm import (
    UnsubscribeLinkExpired,
    track_click,
    track_open,
    unsubscribe,
    unsubscribe_target,
)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def open_pixel(request, token):
    track_open(token=token)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def click(request, token):
    url = track_click(token=token, signed_url=request.GET.get("u", ""))
    if url is None:
        return HttpResponseBadRequest(
            _("This link is not valid or has expired."), content_type="text/plain; charset=utf-8"
        )
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058 one-click: mail providers POST without a CSRF token; the
# signed token in the URL is the authorisation.
def unsubscribe_view(request, token):
    """POST unsubscribes (the mail client's one-click, or the button). GET shows the
    button: link scanners that prefetch every URL in a mail must not unsubscribe anyone.
    The page never shows the member's e-mail address (anyone holding the link sees it).
    A genuine link past its lifetime leads to the log-in, then the profile's e-mail
    preferences."""
    try:
        if request.method == "POST":
            member = unsubscribe(token=token)
            template = "campaigns/unsubscribed.html"
        else:
            member = unsubscribe_target(token=token)
            template = "campaigns/unsubscribe.html"
    except UnsubscribeLinkExpired:
        return _link_not_valid(request, expired=True, status=410)
    if member is None:
        return _link_not_valid(request, expired=False, status=400)
    if member.language in dict(settings.LANGUAGES):
        translation.activate(member.language)  # the member's language, as in the mail
    return render(request, template, {"member": member})


def _link_not_valid(request, *, expired: bool, status: int):
    login = reverse("members:login") + "?" + urlencode({"next": reverse("members:profile")})
    context = {"invalid": True, "expired": expired, "login_url": login}
    return render(request, "campaigns/unsubscribed.html", context, status=status)
