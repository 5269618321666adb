"""The Apple Wallet pass: pass.json and the signed .pkpass (a zip).

The .pkpass holds pass.json, the images, manifest.json (the SHA-1 of every file, as Apple
specifies) and `signature`: a detached PKCS#7 (CMS) signature of manifest.json by the
pass type certificate, carrying Apple's WWDR intermediate certificate. `cryptography`'s
PKCS7SignatureBuilder makes it (it adds the signing time Apple requires)."""

import hashlib
import io
import json
import zipfile
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

from loyalty.kernel.errors import DomainError

from .card import CardFacts
from .models import WalletPass

BACKGROUND = (22, 22, 28)
GOLD = (201, 168, 92)


class WalletNotConfigured(DomainError):
    pass


def configured() -> bool:
    return all(
        p and Path(p).is_file()
        for p in (
            settings.CARAT_WALLET_CERT,
            settings.CARAT_WALLET_KEY,
            settings.CARAT_WALLET_WWDR_CERT,
        )
    )


def _rgb(color: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*color)


def pass_json(facts: CardFacts, wallet_pass: WalletPass) -> dict:
    """The card's content, in the member's language."""
    with translation.override(facts.language):
        return {
            "formatVersion": 1,
            "passTypeIdentifier": settings.CARAT_WALLET_PASS_TYPE_ID,
            "teamIdentifier": settings.CARAT_WALLET_TEAM_ID,
            "serialNumber": wallet_pass.serial,
            "authenticationToken": wallet_pass.auth_token,
            "webServiceURL": settings.CARAT_WALLET_WEB_SERVICE_URL,
            "organizationName": settings.CARAT_WALLET_ORGANIZATION,
            "description": _("%(program)s card") % {"program": facts.program},
            "logoText": facts.program,
            "backgroundColor": _rgb(BACKGROUND),
            "foregroundColor": "rgb(255,255,255)",
            "labelColor": _rgb(GOLD),
            "barcodes": [
                {
                    "format": "PKBarcodeFormatQR",
                    "message": facts.qr_payload,
                    "messageEncoding": "iso-8859-1",
                    "altText": facts.member_number,
                }
            ],
            "storeCard": {
                "headerFields": [
                    {
                        "key": "balance",
                        "label": _("Carats"),
                        "value": facts.balance,
                        "numberStyle": "PKNumberStyleDecimal",
                        "changeMessage": _("You now have %@ carats"),
                    }
                ],
                "primaryFields": [
                    {
                        "key": "tier",
                        "label": _("Tier"),
                        "value": facts.tier_name,
                        "changeMessage": _("Your tier is now %@"),
                    }
                ],
                "secondaryFields": [
                    {"key": "name", "label": _("Member"), "value": facts.member_name},
                    {"key": "number", "label": _("Member number"), "value": facts.member_number},
                ],
                "auxiliaryFields": [
                    {"key": "progress", "label": _("Progress"), "value": facts.progress}
                ],
                "backFields": [
                    {
                        "key": "boutiques",
                        "label": _("Our boutiques"),
                        "value": "\n".join(facts.boutiques) or "-",
                    },
                    {
                        "key": "account",
                        "label": _("Your account"),
                        "value": settings.CARAT_SITE_URL.rstrip("/") + "/account/",
                    },
                ],
            },
        }


@cache
def _images() -> dict[str, bytes]:
    """The brand's look: a gold diamond on the card's dark background."""
    out = {}
    for name, size in (
        ("icon.png", (29, 29)),
        ("icon@2x.png", (58, 58)),
        ("logo.png", (50, 50)),
        ("logo@2x.png", (100, 100)),
    ):
        img = Image.new("RGB", size, BACKGROUND)
        w, h = size
        ImageDraw.Draw(img).polygon(
            [(w / 2, h * 0.12), (w * 0.88, h / 2), (w / 2, h * 0.88), (w * 0.12, h / 2)],
            fill=GOLD,
        )
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out[name] = buf.getvalue()
    return out


@cache
def _signer(cert_path: str, key_path: str, wwdr_path: str, password: str):
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(
        Path(key_path).read_bytes(), password=password.encode() or None
    )
    wwdr = x509.load_pem_x509_certificate(Path(wwdr_path).read_bytes())
    return cert, key, wwdr


def sign_manifest(manifest: bytes) -> bytes:
    if not configured():
        raise WalletNotConfigured(_("The wallet card is not available at the moment."))
    cert, key, wwdr = _signer(
        settings.CARAT_WALLET_CERT,
        settings.CARAT_WALLET_KEY,
        settings.CARAT_WALLET_WWDR_CERT,
        settings.CARAT_WALLET_KEY_PASSWORD,
    )
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(cert, key, hashes.SHA256())
        .add_certificate(wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def build_pkpass(facts: CardFacts, wallet_pass: WalletPass) -> bytes:
    files = {
        "pass.json": json.dumps(pass_json(facts, wallet_pass), ensure_ascii=False).encode(),
        **_images(),
    }
    manifest = json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in files.items()},  # noqa: S324 (Apple's format)
        sort_keys=True,
    ).encode()
    signature = sign_manifest(manifest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("manifest.json", manifest)
        zf.writestr("signature", signature)
    return buf.getvalue()
