"""Thin edges of the wallet card: the member's downloads (login required) and Apple's pass
web service (authenticated per pass with `Authorization: ApplePass <token>`).

Every input is bounded: the URL converters (urls.py) accept only short identifiers of
known shapes, bodies are read only up to MAX_BODY bytes, the push token must be hex."""

import json
import logging
import re
from email.utils import format_datetime, parsedate_to_datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.kernel.errors import DomainError

from ..models import Member
from . import apple, google
from .card import card_facts
from .models import AppleRegistration, WalletPass
from .services import (
    apple_register,
    apple_unregister,
    google_issued,
    last_modified,
    wallet_pass_issue,
)

log = logging.getLogger(__name__)

MAX_BODY = 4096
MAX_LOG_LINES = 20
PKPASS = "application/vnd.apple.pkpass"
_AUTH = re.compile(r"ApplePass ([A-Za-z0-9_-]{16,64})")
_PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{16,128}")
# A constant to compare against when the serial is unknown, so an unknown serial and a
# wrong token take the same path.
_NO_TOKEN = "-" * 43


# --- the member's downloads -------------------------------------------------------------


def _member_or_none(request) -> Member | None:
    return Member.objects.filter(user=request.user, erased_at__isnull=True).first()


def _no_membership(request):
    return render(request, "members/no_membership.html", status=403)


def _pkpass_response(wallet_pass: WalletPass, member: Member) -> HttpResponse:
    data = apple.build_pkpass(card_facts(member), wallet_pass)
    response = HttpResponse(data, content_type=PKPASS)
    response["Content-Disposition"] = 'attachment; filename="diamond-club.pkpass"'
    response["Last-Modified"] = format_datetime(last_modified(wallet_pass), usegmt=True)
    response["Cache-Control"] = "no-store, private"
    return response


@never_cache
@login_required
@require_GET
def apple_pass(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    try:
        if not apple.configured():
            raise apple.WalletNotConfigured(_("The wallet card is not available at the moment."))
        return _pkpass_response(wallet_pass_issue(member=member), member)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("members:home")


@never_cache
@login_required
@require_GET
def google_pass(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    if not google.configured():
        messages.error(request, _("The wallet card is not available at the moment."))
        return redirect("members:home")
    wallet_pass = wallet_pass_issue(member=member)
    link = google.save_link(card_facts(member), wallet_pass)
    google_issued(wallet_pass=wallet_pass)
    return HttpResponseRedirect(link)


# --- Apple's pass web service --------------------------------------------------------------


def _pass_for(request, pass_type: str, serial: str) -> WalletPass | None:
    """The pass if the request carries its token; None otherwise (answer 401)."""
    if pass_type != settings.CARAT_WALLET_PASS_TYPE_ID:
        return None
    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    wallet_pass = WalletPass.objects.filter(serial=serial).first()
    expected = wallet_pass.auth_token if wallet_pass is not None else _NO_TOKEN
    given = match.group(1) if match else ""
    if not constant_time_compare(given, expected) or wallet_pass is None:
        return None
    return wallet_pass


def _unauthorized() -> HttpResponse:
    return HttpResponse(status=401)


def _json_body(request) -> dict | None:
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return None
    if length > MAX_BODY:
        return None
    try:
        data = json.loads(request.read(MAX_BODY + 1)[:MAX_BODY] or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def registration(request, device_id: str, pass_type: str, serial: str):
    wallet_pass = _pass_for(request, pass_type, serial)
    if wallet_pass is None:
        return _unauthorized()
    if request.method == "DELETE":
        apple_unregister(wallet_pass=wallet_pass, device_id=device_id)
        return HttpResponse(status=200)
    body = _json_body(request)
    token = body.get("pushToken") if body else None
    if not isinstance(token, str) or not _PUSH_TOKEN.fullmatch(token):
        return JsonResponse({"error": "pushToken must be a hexadecimal device token."}, status=400)
    created = apple_register(wallet_pass=wallet_pass, device_id=device_id, push_token=token)
    return HttpResponse(status=201 if created else 200)


@require_GET
def serials(request, device_id: str, pass_type: str):
    if pass_type != settings.CARAT_WALLET_PASS_TYPE_ID:
        return HttpResponse(status=404)
    since = request.GET.get("passesUpdatedSince", "")
    rows = AppleRegistration.objects.filter(device_id=device_id)
    if since:
        if not since.isdigit() or len(since) > 12:
            return JsonResponse({"error": "passesUpdatedSince is not a tag we gave."}, status=400)
        rows = rows.filter(wallet_pass__version__gt=int(since))
    found = list(rows.values_list("wallet_pass__serial", "wallet_pass__version")[:100])
    if not found:
        return HttpResponse(status=204)
    return JsonResponse(
        {
            "serialNumbers": sorted(serial for serial, _v in found),
            "lastUpdated": str(max(v for _s, v in found)),
        }
    )


@require_GET
def latest_pass(request, pass_type: str, serial: str):
    wallet_pass = _pass_for(request, pass_type, serial)
    if wallet_pass is None:
        return _unauthorized()
    since = request.headers.get("If-Modified-Since", "")
    if since and len(since) <= 64:
        try:
            seen = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            seen = None
        if seen is not None and seen.tzinfo and int(seen.timestamp()) >= wallet_pass.version:
            return HttpResponse(status=304)
    member = Member.objects.get(pk=wallet_pass.member_id)
    try:
        return _pkpass_response(wallet_pass, member)
    except apple.WalletNotConfigured:
        return HttpResponse(status=503)


@csrf_exempt
@require_POST
def device_log(request):
    body = _json_body(request)
    lines = body.get("logs") if body else None
    if not isinstance(lines, list):
        return JsonResponse({"error": "logs must be a list of messages."}, status=400)
    for line in lines[:MAX_LOG_LINES]:
        log.info("wallet device log: %s", str(line)[:300].replace("\n", " "))
    return HttpResponse(status=200)
