"""The demo's product catalog (categories and a few pieces per category) and the voucher
the thank-you questionnaire grants. Loaded by `manage.py loaddemo`, idempotent."""

from decimal import Decimal

CATEGORIES = [
    # code, en, nl, fr
    ("rings", "Rings", "Ringen", "Bagues"),
    ("earrings", "Earrings", "Oorbellen", "Boucles d'oreilles"),
    ("necklaces", "Necklaces", "Halskettingen", "Colliers"),
    ("bracelets", "Bracelets", "Armbanden", "Bracelets"),
    ("watches", "Watches", "Horloges", "Montres"),
]

_IMG = "https://images.carat.example/products/{}.jpg"

PRODUCTS = [
    # sku, category, price (EUR), en, nl, fr
    ("RING-0042", "rings", "180.00", "Solitaire ring", "Solitairring", "Bague solitaire"),
    (
        "RING-0107",
        "rings",
        "1250.00",
        "Eternity ring, white gold",
        "Eternityring, witgoud",
        "Alliance éternité, or blanc",
    ),
    (
        "RING-0215",
        "rings",
        "640.00",
        "Sapphire halo ring",
        "Saffier halo-ring",
        "Bague halo saphir",
    ),
    (
        "EAR-0011",
        "earrings",
        "95.50",
        "Pearl studs",
        "Parel oorknopjes",
        "Clous d'oreilles en perle",
    ),
    (
        "EAR-0052",
        "earrings",
        "420.00",
        "Diamond drops",
        "Diamanten oorhangers",
        "Pendants d'oreilles en diamant",
    ),
    ("EAR-0090", "earrings", "210.00", "Gold hoops", "Gouden creolen", "Créoles en or"),
    (
        "NECK-0003",
        "necklaces",
        "350.00",
        "Diamond pendant",
        "Diamanten hanger",
        "Pendentif en diamant",
    ),
    ("NECK-0044", "necklaces", "49.00", "Fine chain", "Fijne ketting", "Chaîne fine"),
    ("BRAC-0007", "bracelets", "290.00", "Tennis bracelet", "Tennisarmband", "Bracelet tennis"),
    ("BRAC-0031", "bracelets", "120.00", "Charm bracelet", "Bedelarmband", "Bracelet à breloques"),
    (
        "WATCH-0100",
        "watches",
        "2400.00",
        "Automatic watch, steel",
        "Automatisch horloge, staal",
        "Montre automatique, acier",
    ),
]

QUESTIONNAIRE_REWARD = {
    "name": "15 % on your next purchase",
    "name_nl": "15 % op je volgende aankoop",
    "name_fr": "15 % sur votre prochain achat",
    "description": "Thank you for answering our questions after your purchase.",
    "description_nl": "Bedankt om onze vragen na je aankoop te beantwoorden.",
    "description_fr": "Merci d'avoir répondu à nos questions après votre achat.",
    "kind": "percent",
    "value": Decimal("15"),
    "cost_carats": 1,
    # Not in the rewards catalog: it is given for the questionnaire, never bought.
    "active": False,
    "voucher_valid_days": 90,
}


def demo_sku(prefix: str, n: int) -> str:
    """A demo sale's SKU: one of the catalog's pieces of that kind (RING, EAR, ...), most
    of the time, and now and then one the catalog does not know (flagged on the line)."""
    known = [sku for sku, *_ in PRODUCTS if sku.startswith(prefix + "-")]
    if not known or n % 10 == 0:
        return f"{prefix}-{n:04d}"
    return known[n % len(known)]


def load_demo_catalog() -> None:
    from campaigns.models import Category, Product, Program, Reward

    categories = {}
    for position, (code, en, nl, fr) in enumerate(CATEGORIES):
        categories[code], _ = Category.objects.get_or_create(
            code=code, defaults={"name": en, "name_nl": nl, "name_fr": fr, "position": position}
        )
    for sku, category, price, en, nl, fr in PRODUCTS:
        Product.objects.get_or_create(
            sku=sku,
            defaults={
                "name": en,
                "name_nl": nl,
                "name_fr": fr,
                "category": categories[category],
                "price": Decimal(price),
                "image_url": _IMG.format(sku.lower()),
            },
        )
    fields = dict(QUESTIONNAIRE_REWARD)
    reward, _ = Reward.objects.get_or_create(name=fields.pop("name"), defaults=fields)
    Program.objects.filter(pk=1, questionnaire_reward__isnull=True).update(
        questionnaire_reward=reward
    )
