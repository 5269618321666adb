"""Apple Push Notification service for pass updates: HTTP/2 with token authentication.

One POST per device to {CARAT_APNS_URL}/3/device/<push token> with an empty JSON body and
the pass type id as topic; authorization is an ES256 JWT (iss = team id, kid = key id)
signed with the team's .p8 key, reused for 40 minutes (Apple refuses a token renewed more
often than every 20 minutes and one older than an hour). 410 Unregistered means the
device is gone: its registration is deleted. The host comes from the settings only."""

import logging
import re
import ssl
import threading
import time
from pathlib import Path

import httpx
import jwt
from django.conf import settings

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 40 * 60
_PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{1,128}")
_lock = threading.Lock()
_cached: dict[tuple, tuple[str, float]] = {}


def enabled() -> bool:
    return bool(settings.CARAT_APNS_KEY and settings.CARAT_APNS_KEY_ID)


def provider_token(now: float | None = None) -> str:
    now = time.time() if now is None else now
    ident = (settings.CARAT_APNS_KEY, settings.CARAT_APNS_KEY_ID, settings.CARAT_WALLET_TEAM_ID)
    with _lock:
        token, issued = _cached.get(ident, ("", 0.0))
        if not token or now - issued > TOKEN_LIFETIME:
            key = Path(settings.CARAT_APNS_KEY).read_bytes()
            token = jwt.encode(
                {"iss": settings.CARAT_WALLET_TEAM_ID, "iat": int(now)},
                key,
                algorithm="ES256",
                headers={"kid": settings.CARAT_APNS_KEY_ID},
            )
            _cached[ident] = (token, now)
        return token


def _client() -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if settings.CARAT_APNS_CA_FILE:
        verify = ssl.create_default_context(cafile=settings.CARAT_APNS_CA_FILE)
    return httpx.Client(
        http1=False,
        http2=True,
        verify=verify,
        timeout=settings.CARAT_APNS_TIMEOUT,
        follow_redirects=False,
    )


def push(tokens: list[str]) -> set[str]:
    """Send the empty pass-update push to each token; returns the tokens APNs says are
    gone (410). Other failures are logged and raised as OSError, so the task retries."""
    if not enabled():
        log.info("wallet: no APNs key configured, %s push(es) not sent", len(tokens))
        return set()
    base = settings.CARAT_APNS_URL.rstrip("/")
    headers = {
        "authorization": f"bearer {provider_token()}",
        "apns-topic": settings.CARAT_WALLET_PASS_TYPE_ID,
        "apns-push-type": "background",
        "apns-priority": "5",
    }
    gone: set[str] = set()
    failed = 0
    with _client() as client:
        for token in tokens:
            if not _PUSH_TOKEN.fullmatch(token):
                gone.add(token)  # never stored by the web service; drop it if found
                continue
            try:
                r = client.post(f"{base}/3/device/{token}", content=b"{}", headers=headers)
            except httpx.HTTPError as exc:
                log.warning("wallet: APNs unreachable (%s)", exc)
                raise OSError(f"APNs unreachable: {exc}") from exc
            if r.status_code == 200:
                continue
            if r.status_code == 410 or (r.status_code == 400 and "BadDeviceToken" in r.text):
                gone.add(token)
            else:
                failed += 1
                log.warning("wallet: APNs answered %s: %s", r.status_code, r.text[:200])
    if failed:
        raise OSError(f"APNs refused {failed} push(es)")
    return gone
