"""The Diamond Club card in Google Wallet: the signed save link and the patch after a
change, against a local stub of the Wallet API (and its OAuth token endpoint)."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse

from members.models import Member, User, WalletPass
from members.services import member_rotate_qr
from members.wallet import google
from pos.services import purchase_record

ISSUER = "3388000000012345678"


class _Stub(BaseHTTPRequestHandler):
    calls: list = []

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):
        form = parse_qs(self._body().decode())
        self.server.calls.append(("token", self.path, form))
        body = json.dumps({"access_token": "stub-token", "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PATCH(self):
        data = json.loads(self._body())
        self.server.calls.append(("patch", self.path, data, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def google_stub(settings, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = {
        "type": "service_account",
        "client_email": "wallet@carat-test.iam.gserviceaccount.com",
        "private_key_id": "k1",
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(info))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings.CARAT_GOOGLE_WALLET_ISSUER_ID = ISSUER
    settings.CARAT_GOOGLE_WALLET_SERVICE_ACCOUNT = str(path)
    settings.CARAT_GOOGLE_WALLET_API_URL = base + "/walletobjects/v1"
    settings.CARAT_GOOGLE_WALLET_TOKEN_URL = base + "/token"
    settings.CARAT_APNS_KEY = ""
    google._token.clear()
    yield server, key.public_key()
    server.shutdown()
    server.server_close()


@pytest.fixture
def member_login(member, client):
    user = User.objects.create_user("ada@example.com", "pw-for-tests-1")
    member.user = user
    member.save(update_fields=["user"])
    client.force_login(user)
    return member


def _save_link(client) -> str:
    r = client.get(reverse("members:wallet_google"))
    assert r.status_code == 302
    assert r["Location"].startswith("https://pay.google.com/gp/v/save/")
    return r["Location"].removeprefix("https://pay.google.com/gp/v/save/")


def test_save_link_is_signed_by_the_service_account_and_carries_the_object(
    client, member_login, google_stub
):
    _server, public = google_stub
    token = _save_link(client)
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="google")
    assert claims["typ"] == "savetowallet"
    assert claims["iss"] == "wallet@carat-test.iam.gserviceaccount.com"
    obj = claims["payload"]["loyaltyObjects"][0]
    wallet_pass = WalletPass.objects.get(member=member_login)
    assert obj["id"] == f"{ISSUER}.{wallet_pass.serial}"
    assert obj["classId"] == f"{ISSUER}.diamond_club"
    assert obj["barcode"]["value"] == member_login.qr_payload
    assert obj["loyaltyPoints"]["balance"] == {"int": member_login.balance}
    assert obj["accountId"] == member_login.member_number
    assert claims["payload"]["loyaltyClasses"][0]["id"] == f"{ISSUER}.diamond_club"
    assert Member.objects.get(pk=member_login.pk).wallet_live
    with pytest.raises(jwt.InvalidSignatureError):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        jwt.decode(token, other, algorithms=["RS256"], audience="google")


def test_without_configuration_the_google_button_says_so(client, member_login, settings):
    settings.CARAT_GOOGLE_WALLET_ISSUER_ID = ""
    r = client.get(reverse("members:wallet_google"), follow=True)
    assert r.status_code == 200 and "not available" in r.content.decode()
    assert not Member.objects.get(pk=member_login.pk).wallet_live


def test_after_a_sale_the_wallet_api_receives_the_patch_with_the_new_balance(
    client, member_login, google_stub, antwerp, django_capture_on_commit_callbacks
):
    server, _public = google_stub
    _save_link(client)
    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(
            member=Member.objects.get(pk=member_login.pk),
            channel="store",
            store=antwerp,
            receipt_id="G-1",
            amount=Decimal("1240"),
            currency="EUR",
        )
    patches = [c for c in server.calls if c[0] == "patch"]
    assert len(patches) == 1
    _kind, path, body, auth = patches[0]
    wallet_pass = WalletPass.objects.get(member=member_login)
    assert path == f"/walletobjects/v1/loyaltyObject/{ISSUER}.{wallet_pass.serial}"
    assert body["loyaltyPoints"]["balance"] == {"int": 1240}
    assert body["notifyPreference"] == "notifyOnUpdate"
    assert auth == "Bearer stub-token"
    token_call = next(c for c in server.calls if c[0] == "token")
    assert token_call[2]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_at_most_three_notifications_per_pass_per_day_the_rest_patch_silently(
    client, member_login, google_stub, django_capture_on_commit_callbacks
):
    server, _public = google_stub
    _save_link(client)
    member = Member.objects.get(pk=member_login.pk)
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            member_rotate_qr(member=member)
    patches = [c[2] for c in server.calls if c[0] == "patch"]
    assert len(patches) == 5
    assert [p.get("notifyPreference") for p in patches] == ["notifyOnUpdate"] * 3 + [None] * 2
    member.refresh_from_db()
    assert patches[-1]["barcode"]["value"] == member.qr_payload
