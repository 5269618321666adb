"""What a rule or a segment may name: the catalogs of codes (stores, channels, tiers,
clubs; later product categories and SKUs), and the model fields that store such codes.

Each app registers the catalog of what it owns (in its AppConfig.ready): pos the stores
and channels, tiers the tiers, campaigns the clubs. A product catalog registers
"category" and "sku" the same way, and every picker and check below picks it up: the
console's forms offer the codes as choices, and the models' clean() refuses a code that
is not in the catalog (a typo such as "Antwerpen" for the store "antwerp" cannot be
saved, where it would silently never match a sale).

A kind without a registered catalog (no product catalog yet) stays free text.

CODE_FIELDS lists the model fields that store codes as text (for speed, e.g. a rule's
store codes, read on every sale): `tests/test_console_pickers.py` walks every console form
the Marketing role can open and fails on a field that names codes without a picker."""

from collections.abc import Callable, Iterable

Choices = list[tuple[str, str]]

_CATALOGS: dict[str, Callable[[], Choices]] = {}

# "app_label.model.field" -> kind
CODE_FIELDS: dict[str, str] = {}


def catalog_register(kind: str, choices: Callable[[], Choices]) -> None:
    """`choices` returns (code, label) pairs of what exists now (read on each call)."""
    _CATALOGS[kind] = choices


def code_field_register(label: str, kind: str) -> None:
    CODE_FIELDS[label] = kind


def catalog_choices(kind: str) -> Choices | None:
    """The codes of `kind` that exist, or None when no catalog is registered."""
    loader = _CATALOGS.get(kind)
    return None if loader is None else list(loader())


def split_codes(value: str | Iterable[str] | None) -> list[str]:
    """ "a, b" or ["a", "b"] -> ["a", "b"] (stripped, empty items dropped, order kept)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def catalog_unknown(kind: str, codes: Iterable[str]) -> list[str]:
    """The codes that are not in the catalog (compared without case). Empty when no
    catalog of `kind` is registered."""
    choices = catalog_choices(kind)
    if choices is None:
        return []
    known = {str(code).lower() for code, _label in choices}
    return [c for c in codes if c.lower() not in known]
