"""The Diamond Club card in Apple Wallet: the signed .pkpass, the pass web service and
the pushes after a sale or a new QR code (through the outbox, to a local HTTP/2 server
standing in for APNs)."""

import io
import json
import subprocess
import zipfile
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.kernel.models import OutboxTask
from members.models import AppleRegistration, Member, User, WalletPass
from members.services import ledger_post, member_rotate_qr
from members.wallet import apns
from members.wallet.devcerts import make_ca, make_leaf, write_dev_certs
from members.wallet.services import last_modified, wallet_card_changed
from pos.services import purchase_record
from tests.apns_stub import ApnsStub

PASS_TYPE = "pass.example.carat.test"
TOKEN = "ab" * 32
DEVICE = "device-1"


@pytest.fixture
def wallet_certs(tmp_path, settings):
    paths = write_dev_certs(tmp_path / "wallet", pass_type_id=PASS_TYPE)
    settings.CARAT_WALLET_PASS_TYPE_ID = PASS_TYPE
    settings.CARAT_WALLET_TEAM_ID = "TEAM123456"
    settings.CARAT_WALLET_CERT = str(paths["cert"])
    settings.CARAT_WALLET_KEY = str(paths["key"])
    settings.CARAT_WALLET_WWDR_CERT = str(paths["ca"])
    settings.CARAT_APNS_KEY = str(paths["apns"])
    settings.CARAT_APNS_KEY_ID = "KEY1234567"
    apns._cached.clear()
    return paths


@pytest.fixture
def apns_server(tmp_path, settings, wallet_certs):
    """The APNs stand-in: h2 over TLS on 127.0.0.1 with a certificate of a test CA, which
    the client is told to trust (CARAT_APNS_CA_FILE)."""
    ca, ca_key = make_ca("APNs test CA")
    cert, key = make_leaf(ca, ca_key, "127.0.0.1", server_names=("127.0.0.1",))
    d = tmp_path / "apns"
    d.mkdir()
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with ApnsStub(str(d / "cert.pem"), str(d / "key.pem")) as stub:
        settings.CARAT_APNS_URL = stub.url
        settings.CARAT_APNS_CA_FILE = str(d / "ca.pem")
        yield stub


@pytest.fixture
def member_login(member, client):
    user = User.objects.create_user("ada@example.com", "pw-for-tests-1")
    member.user = user
    member.save(update_fields=["user"])
    client.force_login(user)
    return member


def _download(client) -> dict[str, bytes]:
    r = client.get(reverse("members:wallet_apple"))
    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"] == "application/vnd.apple.pkpass"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _auth(wallet_pass: WalletPass) -> dict:
    return {"HTTP_AUTHORIZATION": f"ApplePass {wallet_pass.auth_token}"}


def _reg_url(wallet_pass: WalletPass, device=DEVICE) -> str:
    return reverse("wallet:apple_registration", args=[device, PASS_TYPE, wallet_pass.serial])


def _latest(client, wallet_pass, **headers):
    return client.get(
        reverse("wallet:apple_latest_pass", args=[PASS_TYPE, wallet_pass.serial]),
        **_auth(wallet_pass),
        **headers,
    )


def _pass_json(response) -> dict:
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        return json.loads(zf.read("pass.json"))


# --- the download --------------------------------------------------------------------------


def test_pass_download_needs_the_members_login(client, member, wallet_certs):
    r = client.get(reverse("members:wallet_apple"))
    assert r.status_code == 302 and reverse("members:login") in r["Location"]


def test_downloaded_pass_hashes_match_and_signature_verifies_with_openssl(
    client, member_login, wallet_certs, tmp_path
):
    ledger_post(member=member_login, carats=1240, kind="bonus", reason="welcome", key="b1")
    files = _download(client)
    manifest = json.loads(files["manifest.json"])
    import hashlib

    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest  # noqa: S324
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"])
    (tmp_path / "signature").write_bytes(files["signature"])
    result = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "openssl",
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "signature"),
            "-content",
            str(tmp_path / "manifest.json"),
            "-CAfile",
            str(wallet_certs["ca"]),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    data = json.loads(files["pass.json"])
    member_login.refresh_from_db()
    assert data["barcodes"][0]["message"] == member_login.qr_payload
    assert data["storeCard"]["headerFields"][0]["value"] == 1240
    assert data["storeCard"]["headerFields"][0]["changeMessage"] == "You now have %@ carats"
    assert data["passTypeIdentifier"] == PASS_TYPE
    assert data["serialNumber"] == member_login.wallet_pass.serial
    assert data["authenticationToken"] == member_login.wallet_pass.auth_token
    names = {f["key"]: f["value"] for f in data["storeCard"]["secondaryFields"]}
    assert names == {"name": "Ada Lovelace", "number": member_login.member_number}


def test_a_tampered_manifest_fails_verification(client, member_login, wallet_certs, tmp_path):
    files = _download(client)
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"].replace(b"{", b"{ ", 1))
    (tmp_path / "signature").write_bytes(files["signature"])
    result = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "openssl", "smime", "-verify", "-binary", "-inform", "DER",
            "-in", str(tmp_path / "signature"), "-content", str(tmp_path / "manifest.json"),
            "-CAfile", str(wallet_certs["ca"]), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0


def test_pass_is_in_the_members_language(client, member_login, wallet_certs):
    Member.objects.filter(pk=member_login.pk).update(language="nl")
    data = json.loads(_download(client)["pass.json"])
    assert data["storeCard"]["headerFields"][0]["changeMessage"] == "Je hebt nu %@ karaten"


def test_without_certificates_the_download_says_so_instead_of_failing(
    client, member_login, settings
):
    settings.CARAT_WALLET_CERT = ""
    r = client.get(reverse("members:wallet_apple"), follow=True)
    assert r.status_code == 200
    assert "not available" in r.content.decode()


# --- the web service -----------------------------------------------------------------------


@pytest.fixture
def issued(client, member_login, wallet_certs):
    _download(client)
    return WalletPass.objects.get(member=member_login)


def test_web_service_refuses_a_missing_or_wrong_token_with_401(client, issued):
    url = _reg_url(issued)
    body = json.dumps({"pushToken": TOKEN})
    assert client.post(url, body, content_type="application/json").status_code == 401
    for header in (
        "ApplePass " + "x" * 43,
        "Bearer " + issued.auth_token,
        issued.auth_token,
        "ApplePass " + issued.auth_token + "x",
    ):
        r = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=header)
        assert r.status_code == 401, header
    other = WalletPass.objects.create(
        member=Member.objects.create(email="o@example.com", member_number="0000000099")
    )
    r = client.post(_reg_url(other), body, content_type="application/json", **_auth(issued))
    assert r.status_code == 401  # a token opens its own pass only
    r = client.get(reverse("wallet:apple_latest_pass", args=[PASS_TYPE, issued.serial]))
    assert r.status_code == 401
    assert not AppleRegistration.objects.exists()


def test_web_service_bounds_its_inputs(client, issued):
    url = _reg_url(issued)
    for body in ("not json", json.dumps({"pushToken": "<script>"}), json.dumps([1]), "{}"):
        r = client.post(url, body, content_type="application/json", **_auth(issued))
        assert r.status_code == 400, body
    big = json.dumps({"pushToken": TOKEN, "x": "y" * 10_000})
    r = client.post(url, big, content_type="application/json", **_auth(issued))
    assert r.status_code == 400
    # identifiers of the wrong shape or length do not reach a view
    assert (
        client.post(
            f"/wallet/apple/v1/devices/{'d' * 65}/registrations/{PASS_TYPE}/{issued.serial}"
        ).status_code
        == 404
    )
    r = client.get(
        f"/wallet/apple/v1/devices/{DEVICE}/registrations/{PASS_TYPE}?passesUpdatedSince=x"
    )
    assert r.status_code == 400
    r = client.post(reverse("wallet:apple_log"), "[]", content_type="application/json")
    assert r.status_code == 400
    r = client.post(
        reverse("wallet:apple_log"),
        json.dumps({"logs": ["a" * 5000] * 500}),
        content_type="application/json",
    )
    assert r.status_code == 400  # more than the bound: refused, not logged
    r = client.post(
        reverse("wallet:apple_log"),
        json.dumps({"logs": ["hello"]}),
        content_type="application/json",
    )
    assert r.status_code == 200
    assert not AppleRegistration.objects.exists()


def test_register_list_fetch_and_unregister(client, issued, settings):
    settings.CARAT_APNS_KEY = ""  # no pushes in this test
    url = _reg_url(issued)
    body = json.dumps({"pushToken": TOKEN})
    assert (
        client.post(url, body, content_type="application/json", **_auth(issued)).status_code == 201
    )
    assert (
        client.post(url, body, content_type="application/json", **_auth(issued)).status_code == 200
    )
    assert Member.objects.get(pk=issued.member_id).wallet_live
    serials = reverse("wallet:apple_serials", args=[DEVICE, PASS_TYPE])
    r = client.get(serials)
    assert r.status_code == 200
    assert r.json()["serialNumbers"] == [issued.serial]
    tag = r.json()["lastUpdated"]
    assert client.get(serials, {"passesUpdatedSince": tag}).status_code == 204
    issued.refresh_from_db()
    r = _latest(client, issued)
    assert r.status_code == 200
    assert r["Last-Modified"] == format_datetime(last_modified(issued), usegmt=True)
    assert _latest(client, issued, HTTP_IF_MODIFIED_SINCE=r["Last-Modified"]).status_code == 304
    older = format_datetime(last_modified(issued) - timedelta(seconds=1), usegmt=True)
    assert _latest(client, issued, HTTP_IF_MODIFIED_SINCE=older).status_code == 200
    assert client.delete(url, **_auth(issued)).status_code == 200
    assert not AppleRegistration.objects.exists()
    assert not Member.objects.get(pk=issued.member_id).wallet_live
    assert client.get(serials).status_code == 204


# --- the cost on the sale's path, coalescing ------------------------------------------------


def test_a_card_in_no_phone_costs_the_change_no_statement(member):
    with CaptureQueriesContext(connection) as ctx:
        wallet_card_changed(member=member)
    assert len(ctx.captured_queries) == 0


def test_changes_are_coalesced_into_one_outbox_row_until_pushed(
    member, issued, settings, django_capture_on_commit_callbacks
):
    settings.CARAT_APNS_KEY = ""
    AppleRegistration.objects.create(wallet_pass=issued, device_id=DEVICE, push_token=TOKEN)
    Member.objects.filter(pk=member.pk).update(wallet_live=True)
    member.refresh_from_db()
    before = OutboxTask.objects.filter(task="members.wallet_refresh").count()
    with (
        django_capture_on_commit_callbacks(execute=False),
        CaptureQueriesContext(connection) as ctx,
    ):
        for i in range(3):
            ledger_post(member=member, carats=10, kind="bonus", reason="x", key=f"c{i}")
    rows = OutboxTask.objects.filter(task="members.wallet_refresh").count() - before
    assert rows == 1
    inserts = [q for q in ctx.captured_queries if "members_walletpass" in q["sql"]]
    assert len(inserts) == 3  # one UPDATE per change, one outbox INSERT for all three
    issued.refresh_from_db()
    assert issued.pending == 3


# --- the whole path: register, sell, push, fetch ----------------------------------------------


def _register(client, wallet_pass, token=TOKEN, device=DEVICE, capture=None):
    r = client.post(
        _reg_url(wallet_pass, device),
        json.dumps({"pushToken": token}),
        content_type="application/json",
        **_auth(wallet_pass),
    )
    assert r.status_code == 201


def test_a_sale_pushes_to_the_device_and_the_device_fetches_the_new_balance(
    client, issued, apns_server, antwerp, django_capture_on_commit_callbacks, wallet_certs
):
    with django_capture_on_commit_callbacks(execute=True):
        _register(client, issued)
    # a new registration is pushed at once (the added file may be older than the card)
    assert len(apns_server.requests) == 1
    serials = reverse("wallet:apple_serials", args=[DEVICE, PASS_TYPE])
    tag = client.get(serials).json()["lastUpdated"]
    issued.refresh_from_db()
    seen = _latest(client, issued)["Last-Modified"]

    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(
            member=Member.objects.get(pk=issued.member_id),
            channel="store",
            store=antwerp,
            receipt_id="R-1",
            amount=Decimal("1240"),
            currency="EUR",
        )
    assert len(apns_server.requests) == 2
    push = apns_server.requests[-1]
    assert push["path"] == f"/3/device/{TOKEN}"
    assert push["headers"][":method"] == "POST"
    assert push["headers"]["apns-topic"] == PASS_TYPE
    assert push["body"] == b"{}"
    bearer = push["headers"]["authorization"].removeprefix("bearer ")
    public = serialization.load_pem_private_key(
        wallet_certs["apns"].read_bytes(), password=None
    ).public_key()
    claims = jwt.decode(bearer, public, algorithms=["ES256"])
    assert claims["iss"] == "TEAM123456"
    assert jwt.get_unverified_header(bearer)["kid"] == "KEY1234567"

    r = client.get(serials, {"passesUpdatedSince": tag})
    assert r.status_code == 200 and r.json()["serialNumbers"] == [issued.serial]
    issued.refresh_from_db()
    r = _latest(client, issued, HTTP_IF_MODIFIED_SINCE=seen)
    assert r.status_code == 200
    member = Member.objects.get(pk=issued.member_id)
    assert member.balance == 1240
    assert _pass_json(r)["storeCard"]["headerFields"][0]["value"] == 1240
    assert WalletPass.objects.get(pk=issued.pk).pending == 0


def test_a_new_qr_code_reissues_the_card_and_the_old_one_stops_at_once(
    client, issued, apns_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _register(client, issued)
    serials = reverse("wallet:apple_serials", args=[DEVICE, PASS_TYPE])
    tag = client.get(serials).json()["lastUpdated"]
    assert client.get(serials, {"passesUpdatedSince": tag}).status_code == 204
    issued.refresh_from_db()
    seen = _latest(client, issued)["Last-Modified"]
    assert _latest(client, issued, HTTP_IF_MODIFIED_SINCE=seen).status_code == 304
    member = Member.objects.get(pk=issued.member_id)
    old = member.qr_payload
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(reverse("members:rotate_qr"))
    assert r.status_code == 302
    assert len(apns_server.requests) == 2
    assert apns_server.requests[-1]["path"] == f"/3/device/{TOKEN}"
    member.refresh_from_db()
    assert member.qr_payload != old
    from loyalty.kernel.errors import NotFound
    from members.selectors import member_by_code

    with pytest.raises(NotFound):
        member_by_code(old)
    # The device, woken by the push, asks what changed since its tag and fetches the card.
    r = client.get(serials, {"passesUpdatedSince": tag})
    assert r.status_code == 200 and r.json()["serialNumbers"] == [issued.serial]
    assert r.json()["lastUpdated"] != tag
    issued.refresh_from_db()
    r = _latest(client, issued, HTTP_IF_MODIFIED_SINCE=seen)
    assert r.status_code == 200
    barcodes = _pass_json(r)["barcodes"]
    assert barcodes[0]["message"] == member.qr_payload
    assert all(b["message"] != old for b in barcodes)
    assert WalletPass.objects.get(pk=issued.pk).pending == 0


def test_apns_410_deletes_the_registration(
    client, issued, apns_server, django_capture_on_commit_callbacks
):
    apns_server.status[TOKEN] = 410
    with django_capture_on_commit_callbacks(execute=True):
        _register(client, issued)
    assert len(apns_server.requests) == 1
    assert not AppleRegistration.objects.exists()
    assert not Member.objects.get(pk=issued.member_id).wallet_live


def test_a_push_that_fails_keeps_the_change_for_the_retry(
    client, issued, apns_server, settings, django_capture_on_commit_callbacks
):
    from members.tasks import wallet_refresh

    apns_server.status[TOKEN] = 500
    with django_capture_on_commit_callbacks(execute=False):
        _register(client, issued)
    with pytest.raises(OSError):
        wallet_refresh.run(issued.pk)
    assert WalletPass.objects.get(pk=issued.pk).pending == 1
    apns_server.status[TOKEN] = 200
    assert wallet_refresh.run(issued.pk) == 1
    assert WalletPass.objects.get(pk=issued.pk).pending == 0
    assert wallet_refresh.run(issued.pk) == 0  # twice is harmless


def test_erasure_removes_the_card(client, issued):
    from members.services import member_erase

    member_erase(
        member=Member.objects.get(pk=issued.member_id),
        source="console",
        reason="The member asked by letter.",
    )
    assert not WalletPass.objects.exists()
    assert _latest(client, issued).status_code == 401


def test_version_moves_even_within_one_second(member, issued):
    Member.objects.filter(pk=member.pk).update(wallet_live=True)
    member.refresh_from_db()
    v0 = WalletPass.objects.get(pk=issued.pk).version
    member_rotate_qr(member=member)
    member_rotate_qr(member=member)
    assert WalletPass.objects.get(pk=issued.pk).version >= v0 + 2
    assert timezone.now()  # aware
