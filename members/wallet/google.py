"""Google Wallet: the LoyaltyClass/LoyaltyObject, the "Add to Google Wallet" save link
(a JWT signed with the service account's key, RS256) and a small client that patches the
object after a change.

The JWT and the OAuth token exchange use google-auth's signer and JWT encoder (RS256 with
the service account's key; no other Google client library): the Wallet API is two calls,
a token exchange and a PATCH, made with httpx to the fixed URLs of the settings. Google
notifies the phone of a field update only when `notifyPreference` is `notifyOnUpdate`,
and allows 3 such notifications per pass per day: past that the object is still patched,
silently."""

import json
import logging
import threading
import time
from functools import cache
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from google.auth import crypt
from google.auth import jwt as google_jwt

from .card import CardFacts
from .models import WalletPass
from .services import google_notify_allowed

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
SAVE_URL = "https://pay.google.com/gp/v/save/"
CLASS_SUFFIX = "diamond_club"
_token_lock = threading.Lock()
_token: dict[str, tuple[str, float]] = {}


def configured() -> bool:
    path = settings.CARAT_GOOGLE_WALLET_SERVICE_ACCOUNT
    return bool(settings.CARAT_GOOGLE_WALLET_ISSUER_ID and path and Path(path).is_file())


@cache
def _account(path: str) -> tuple[dict, crypt.Signer]:
    info = json.loads(Path(path).read_text())
    return info, crypt.RSASigner.from_service_account_info(info)


def account() -> tuple[dict, crypt.Signer]:
    return _account(settings.CARAT_GOOGLE_WALLET_SERVICE_ACCOUNT)


def class_id() -> str:
    return f"{settings.CARAT_GOOGLE_WALLET_ISSUER_ID}.{CLASS_SUFFIX}"


def object_id(wallet_pass: WalletPass) -> str:
    return f"{settings.CARAT_GOOGLE_WALLET_ISSUER_ID}.{wallet_pass.serial}"


def loyalty_class(program: str) -> dict:
    return {
        "id": class_id(),
        "issuerName": settings.CARAT_WALLET_ORGANIZATION,
        "programName": program,
        "reviewStatus": "UNDER_REVIEW",
        "hexBackgroundColor": "#16161c",
    }


def changing_fields(facts: CardFacts) -> dict:
    """What a sale, a tier move or a new QR code changes: what the patch sends."""
    with translation.override(facts.language):
        return {
            "loyaltyPoints": {"label": _("Carats"), "balance": {"int": facts.balance}},
            "secondaryLoyaltyPoints": {
                "label": _("Tier"),
                "balance": {"string": facts.tier_name},
            },
            "barcode": {
                "type": "QR_CODE",
                "value": facts.qr_payload,
                "alternateText": facts.member_number,
            },
            "textModulesData": [
                {"id": "progress", "header": _("Progress"), "body": facts.progress},
                {
                    "id": "boutiques",
                    "header": _("Our boutiques"),
                    "body": "\n".join(facts.boutiques) or "-",
                },
            ],
        }


def loyalty_object(facts: CardFacts, wallet_pass: WalletPass) -> dict:
    return {
        "id": object_id(wallet_pass),
        "classId": class_id(),
        "state": "ACTIVE",
        "accountId": facts.member_number,
        "accountName": facts.member_name,
        **changing_fields(facts),
    }


def save_link(facts: CardFacts, wallet_pass: WalletPass) -> str:
    """The "Add to Google Wallet" link: a JWT carrying the class and the object."""
    info, signer = account()
    origin = settings.CARAT_SITE_URL.rstrip("/")
    claims = {
        "iss": info["client_email"],
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()),
        "origins": [origin],
        "payload": {
            "loyaltyClasses": [loyalty_class(facts.program)],
            "loyaltyObjects": [loyalty_object(facts, wallet_pass)],
        },
    }
    return SAVE_URL + google_jwt.encode(signer, claims).decode()


def _access_token(client: httpx.Client) -> str:
    info, signer = account()
    now = time.time()
    with _token_lock:
        token, expires = _token.get(info["client_email"], ("", 0.0))
        if token and expires - 60 > now:
            return token
        assertion = google_jwt.encode(
            signer,
            {
                "iss": info["client_email"],
                "scope": SCOPE,
                "aud": settings.CARAT_GOOGLE_WALLET_TOKEN_URL,
                "iat": int(now),
                "exp": int(now) + 3600,
            },
        ).decode()
        r = client.post(
            settings.CARAT_GOOGLE_WALLET_TOKEN_URL,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
        if r.status_code != 200:
            raise OSError(f"Google token exchange answered {r.status_code}")
        body = r.json()
        token = str(body["access_token"])
        _token[info["client_email"]] = (token, now + int(body.get("expires_in", 3600)))
        return token


def patch(wallet_pass: WalletPass, facts: CardFacts) -> bool:
    """PATCH the object with the card's new content. False if Google has no such object
    (the member never saved the link): nothing to update. Network errors raise OSError,
    so the task retries."""
    if not configured():
        return False
    body = changing_fields(facts)
    if google_notify_allowed(wallet_pass_id=wallet_pass.pk, today=timezone.localdate()):
        body["notifyPreference"] = "notifyOnUpdate"
    base = settings.CARAT_GOOGLE_WALLET_API_URL.rstrip("/")
    url = f"{base}/loyaltyObject/{quote(object_id(wallet_pass), safe='')}"
    try:
        with httpx.Client(timeout=10.0, follow_redirects=False) as client:
            r = client.patch(
                url, json=body, headers={"Authorization": f"Bearer {_access_token(client)}"}
            )
    except httpx.HTTPError as exc:
        raise OSError(f"Google Wallet unreachable: {exc}") from exc
    if r.status_code == 404:
        return False
    if not 200 <= r.status_code < 300:
        raise OSError(f"Google Wallet answered {r.status_code}: {r.text[:200]}")
    return True
