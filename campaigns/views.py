"""Public mail endpoints: open pixel, click redirect, one-click unsubscribe."""

import base64

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from .services.crm import track_click, track_open, unsubscribe, unsubscribe_target

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def open_pixel(request, token):
    track_open(token=token)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def click(request, token):
    url = track_click(token=token, signed_url=request.GET.get("u", ""))
    if url is None:
        return HttpResponseBadRequest("This link is not valid.")
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058 one-click: mail providers POST without a CSRF token; the
# signed token in the URL is the authorisation.
def unsubscribe_view(request, token):
    """POST unsubscribes (the mail client's one-click, or the button). GET shows the
    button: link scanners that prefetch every URL in a mail must not unsubscribe anyone."""
    if request.method == "POST":
        member = unsubscribe(token=token)
        if member is None:
            return render(request, "campaigns/unsubscribed.html", {"invalid": True}, status=400)
        return render(request, "campaigns/unsubscribed.html", {"member": member})
    member = unsubscribe_target(token=token)
    if member is None:
        return render(request, "campaigns/unsubscribed.html", {"invalid": True}, status=400)
    return render(request, "campaigns/unsubscribe.html", {"member": member})
