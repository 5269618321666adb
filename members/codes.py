"""Member numbers, QR tokens and referral codes.

Member number: 10 digits printed on cards; 9 random digits and a Luhn check digit, so a
mistyped digit or a swap of two neighbours is caught before any lookup. Random, not
sequential, so numbers do not reveal how many members there are.

QR payload: "CARAT1:" + a random 128-bit token. It carries neither the member id nor the
e-mail; rotating the token makes the old payload unknown at once.
"""

import secrets
import string

QR_PREFIX = "CARAT1:"
_REFERRAL_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "O0I1L")


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_member_number(value: str) -> bool:
    return (
        len(value) == 10
        and value.isdigit()
        and value[0] != "0"
        and luhn_check_digit(value[:-1]) == value[-1]
    )


def new_member_number() -> str:
    body = str(secrets.randbelow(9 * 10**8) + 10**8)
    return body + luhn_check_digit(body)


def new_qr_token() -> str:
    return secrets.token_urlsafe(16)


def qr_payload(token: str) -> str:
    return QR_PREFIX + token


def token_from_payload(payload: str) -> str | None:
    payload = payload.strip()
    if payload.startswith(QR_PREFIX) and len(payload) > len(QR_PREFIX):
        return payload[len(QR_PREFIX) :]
    return None


def normalize_member_number(value: str) -> str:
    """Accept what people type: spaces and dashes between digit groups."""
    return "".join(ch for ch in value if ch not in " -")


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
