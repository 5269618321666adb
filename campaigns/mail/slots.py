"""Block slots filled by other parts of the program (the product catalog, the
questionnaire). A slot renders nothing until a provider is registered, and nothing when
its provider returns None.

The interface, one function per slot, called in the member's language and time zone:

    popular_products(member: Member, language: str) -> dict | None
        {"title": str (optional), "products": [{"name": str, "price": Decimal | str,
          "currency": "EUR", "image_url": "https://...", "url": "https://..."}, ...]}
        (at most 3 products are shown; image and link URLs must be http(s))

    questionnaire(member: Member, language: str, log: MessageLog | None) -> dict | None
        {"title": str (optional), "text": str, "url": "https://...", "button": str,
         "discount": str (optional, e.g. "15 %")}

Register at start-up, e.g. in an AppConfig.ready():
    from campaigns.mail.slots import register_slot
    register_slot("popular_products", catalog.selectors.popular_for_member)
"""

from collections.abc import Callable

_PROVIDERS: dict[str, Callable[..., dict | None]] = {}

SLOTS = ("popular_products", "questionnaire")


def register_slot(name: str, provider: Callable[..., dict | None] | None) -> None:
    if name not in SLOTS:
        raise ValueError(f"Unknown slot {name!r}; slots: {', '.join(SLOTS)}")
    if provider is None:
        _PROVIDERS.pop(name, None)
    else:
        _PROVIDERS[name] = provider


def slot_provider(name: str) -> Callable[..., dict | None] | None:
    return _PROVIDERS.get(name)
