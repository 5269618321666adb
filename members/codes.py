"""Member numbers, QR tokens and referral codes: their formats, one at a time and in bulk.

Member number: 10 digits printed on cards; 9 random digits and a Luhn check digit, so a
mistyped digit or a swap of two neighbours is caught before any lookup. Random, not
sequential, so numbers do not reveal how many members there are.

QR payload: "CARAT1:" + a random 128-bit token. It carries neither the member id nor the
e-mail; rotating the token makes the old payload unknown at once.
"""

import secrets
import string

QR_PREFIX = "CARAT1:"
QR_TOKEN_LENGTH = 22  # base64url characters: secrets.token_urlsafe(16)
REFERRAL_CODE_LENGTH = 8
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
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


# --- Codes in bulk (the import makes a million at once), in the same formats. ------------

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"  # base64url


def _byte_map(alphabet: str) -> tuple[bytes, bytes]:
    """A translate table mapping random bytes uniformly onto `alphabet`, and the bytes to
    drop (rejection sampling: the top of the byte range that would bias the mapping)."""
    usable = 256 - 256 % len(alphabet)
    table = bytes(ord(alphabet[b % len(alphabet)]) if b < usable else 0 for b in range(256))
    return table, bytes(range(usable, 256))


def _random_strings(alphabet: str, length: int, count: int) -> list[str]:
    table, drop = _byte_map(alphabet)
    need = length * count
    out = b""
    while len(out) < need:
        out += secrets.token_bytes(int((need - len(out)) * 1.1) + 64).translate(table, drop)
    text = out[:need].decode("ascii")
    return [text[i : i + length] for i in range(0, need, length)]


def _luhn_tables() -> tuple[dict[str, int], dict[str, int]]:
    """Luhn sums of 3-digit chunks of a 9-digit body: positions 1-3 and 7-9 are weighted
    doubled/plain/doubled (counting from the check digit), positions 4-6 the opposite."""

    def doubled(d: int) -> int:
        return d * 2 - 9 if d * 2 > 9 else d * 2

    outer, middle = {}, {}
    for n in range(1000):
        a, b, c = divmod(n, 100)[0], divmod(n, 10)[0] % 10, n % 10
        key = f"{n:03d}"
        outer[key] = doubled(a) + b + doubled(c)
        middle[key] = a + doubled(b) + c
    return outer, middle


_LUHN_OUTER, _LUHN_MIDDLE = _luhn_tables()


def new_member_numbers(count: int) -> list[str]:
    """`count` random member numbers like new_member_number: 9 random digits
    (not starting with 0) and the Luhn check digit."""
    bodies = [s for s in _random_strings(string.digits, 9, count + count // 8 + 16) if s[0] != "0"]
    while len(bodies) < count:
        bodies += [s for s in _random_strings(string.digits, 9, count) if s[0] != "0"]
    outer, middle = _LUHN_OUTER, _LUHN_MIDDLE
    return [
        f"{s}{(10 - (outer[s[:3]] + middle[s[3:6]] + outer[s[6:]]) % 10) % 10}"
        for s in bodies[:count]
    ]


def new_qr_tokens(count: int) -> list[str]:
    """22 base64url characters (132 random bits), like new_qr_token."""
    return _random_strings(_TOKEN_ALPHABET, QR_TOKEN_LENGTH, count)


def new_referral_codes(count: int) -> list[str]:
    return _random_strings(_REFERRAL_ALPHABET, REFERRAL_CODE_LENGTH, count)
