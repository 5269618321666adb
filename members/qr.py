"""The member's QR code, rendered server-side as SVG (crisp at any phone size)."""

import io

import qrcode
import qrcode.image.svg


def qr_svg(payload: str) -> str:
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    qr.add_data(payload)
    qr.make(fit=True)
    return qr.make_image().to_string(encoding="unicode")


def qr_png(payload: str) -> bytes:
    """The same code as a PNG image (for e-mail: mail programs do not show SVG)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=2)
    qr.add_data(payload)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()
