"""The member's QR code, rendered server-side as SVG (crisp at any phone size)."""

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
