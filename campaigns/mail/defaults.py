"""What a trigger mail says when marketing has written nothing else: subjects that name
the reason (and the gift, which the composer adds when the subject does not place it),
bodies in the member's words, in English, Dutch and French. They are sandbox texts
(campaigns.mailtext) like the ones marketing writes, and the console starts a new
trigger from them.

Also the header of each mail (the reason, in the member's language) and the footer's
explanation of why the member receives it."""

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

_HELLO = {
    "en": "Dear {{ first_name }},",
    "nl": "Beste {{ first_name }},",
    "fr": "Bonjour {{ first_name }},",
}

# trigger -> language -> (subject, body after the greeting)
_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "welcome": {
        "en": ("Welcome to {{ program }}, {{ first_name }}", "Welcome to {{ program }}! Show your QR code at the till and every purchase earns carats."),
        "nl": ("Welkom bij {{ program }}, {{ first_name }}", "Welkom bij {{ program }}! Toon je QR-code aan de kassa en elke aankoop levert karaten op."),
        "fr": ("Bienvenue au {{ program }}, {{ first_name }}", "Bienvenue au {{ program }} ! Montrez votre QR code en caisse : chaque achat vous rapporte des carats."),
    },
    "anniversary": {
        "en": ("One more year in {{ program }}, {{ first_name }}", "Thank you for another year with us."),
        "nl": ("Weer een jaar bij {{ program }}, {{ first_name }}", "Bedankt voor weer een jaar samen."),
        "fr": ("Une année de plus au {{ program }}, {{ first_name }}", "Merci pour cette nouvelle année à nos côtés."),
    },
    "thank_you": {
        "en": ("Thank you for your purchase, {{ first_name }}: a better discount awaits", "Thank you for your visit. Tell us a little more about yourself and enjoy a better discount on your next purchase."),
        "nl": ("Bedankt voor je aankoop, {{ first_name }}: een betere korting wacht", "Bedankt voor je bezoek. Vertel ons iets meer over jezelf en geniet van een betere korting bij je volgende aankoop."),
        "fr": ("Merci pour votre achat, {{ first_name }} : une meilleure remise vous attend", "Merci pour votre visite. Dites-nous en un peu plus sur vous et profitez d'une meilleure remise lors de votre prochain achat."),
    },
    "service_guarantee": {
        "en": ("Your service guarantee is active", "Your piece is covered by our service guarantee. Bring it to any of our stores for care and repairs."),
        "nl": ("Je servicegarantie is actief", "Je juweel valt onder onze servicegarantie. Breng het naar een van onze winkels voor onderhoud en herstelling."),
        "fr": ("Votre garantie de service est active", "Votre bijou est couvert par notre garantie de service. Apportez-le dans l'une de nos boutiques pour l'entretien et les réparations."),
    },
    "cart_abandoned": {
        "en": ("You left something beautiful in your basket", "Your basket is waiting for you:\n\n{{ basket }}"),
        "nl": ("Er ligt nog iets moois in je winkelmandje", "Je winkelmandje wacht op je:\n\n{{ basket }}"),
        "fr": ("Un joli bijou vous attend dans votre panier", "Votre panier vous attend :\n\n{{ basket }}"),
    },
    "win_back": {
        "en": ("We miss you, {{ first_name }}: a personal offer is waiting", "It has been a while. Come and see our new collection: your personal offer is below."),
        "nl": ("We missen je, {{ first_name }}: er wacht een persoonlijk aanbod", "Het is even geleden. Kom onze nieuwe collectie ontdekken: je persoonlijke aanbod staat hieronder."),
        "fr": ("Vous nous manquez, {{ first_name }} : une offre personnelle vous attend", "Cela fait un moment. Venez découvrir notre nouvelle collection : votre offre personnelle est ci-dessous."),
    },
    "birthday_soon": {
        "en": ("Your birthday is coming, {{ first_name }}: a surprise awaits", "Your birthday is next week, and we have prepared a surprise for you."),
        "nl": ("Je verjaardag komt eraan, {{ first_name }}: er wacht een verrassing", "Volgende week is het je verjaardag, en we hebben een verrassing voor je klaar."),
        "fr": ("Votre anniversaire approche, {{ first_name }} : une surprise vous attend", "Votre anniversaire est la semaine prochaine, et nous vous avons préparé une surprise."),
    },
    "birthday": {
        "en": ("Happy birthday, {{ first_name }}: your surprise is inside", "Happy birthday! Here is your surprise."),
        "nl": ("Gelukkige verjaardag, {{ first_name }}: je verrassing zit erin", "Gelukkige verjaardag! Hier is je verrassing."),
        "fr": ("Joyeux anniversaire, {{ first_name }} : votre surprise est à l'intérieur", "Joyeux anniversaire ! Voici votre surprise."),
    },
    "wedding": {
        "en": ("Your wedding anniversary month, {{ first_name }}: celebrate with us", "Happy anniversary month. Celebrate it with a piece that lasts."),
        "nl": ("Je huwelijksverjaardag komt eraan, {{ first_name }}: vier het met ons", "Een fijne huwelijksmaand. Vier het met een juweel dat blijft."),
        "fr": ("Le mois de votre anniversaire de mariage, {{ first_name }} : fêtons-le", "Joyeux mois d'anniversaire de mariage. Célébrez-le avec un bijou qui dure."),
    },
    "tier_upgraded": {
        "en": ("You are now {{ tier }}: discover your new benefits", "Congratulations: you reached {{ tier }}. Here is what it brings you."),
        "nl": ("Je bent nu {{ tier }}: ontdek je nieuwe voordelen", "Proficiat: je bereikte {{ tier }}. Dit zijn je voordelen."),
        "fr": ("Vous êtes désormais {{ tier }} : découvrez vos nouveaux avantages", "Félicitations : vous avez atteint {{ tier }}. Voici ce qu'il vous apporte."),
    },
    "tier_at_risk": {
        "en": ("Keep your {{ tier }} status: a purchase before {{ tier_deadline }}", "Your {{ tier }} status ends on {{ tier_deadline }}. A purchase before then keeps it."),
        "nl": ("Behoud je {{ tier }}-status: een aankoop vóór {{ tier_deadline }}", "Je {{ tier }}-status loopt af op {{ tier_deadline }}. Met een aankoop daarvoor behoud je hem."),
        "fr": ("Gardez votre statut {{ tier }} : un achat avant le {{ tier_deadline }}", "Votre statut {{ tier }} prend fin le {{ tier_deadline }}. Un achat d'ici là vous le garde."),
    },
    "carats_expiring": {
        "en": ("{{ expiring_carats }} of your carats expire on {{ expiry_date }}", "{{ expiring_carats }} carats on your card expire on {{ expiry_date }}. Spend them on a reward before then: {{ rewards_url }}"),
        "nl": ("{{ expiring_carats }} van je karaten vervallen op {{ expiry_date }}", "{{ expiring_carats }} karaten op je kaart vervallen op {{ expiry_date }}. Ruil ze voordien in voor een beloning: {{ rewards_url }}"),
        "fr": ("{{ expiring_carats }} de vos carats expirent le {{ expiry_date }}", "{{ expiring_carats }} carats de votre carte expirent le {{ expiry_date }}. Échangez-les contre une récompense d'ici là : {{ rewards_url }}"),
    },
    "club_renewal": {
        "en": ("Your {{ club }} membership ends on {{ club_ends }}", "Renew it with your carats to keep your perks: {{ rewards_url }}"),
        "nl": ("Je lidmaatschap van {{ club }} loopt af op {{ club_ends }}", "Verleng het met je karaten en behoud je voordelen: {{ rewards_url }}"),
        "fr": ("Votre adhésion au {{ club }} prend fin le {{ club_ends }}", "Renouvelez-la avec vos carats pour garder vos avantages : {{ rewards_url }}"),
    },
}  # fmt: skip


def default_texts(trigger: str) -> dict[str, str]:
    """{"subject_en": ..., "body_en": ..., "subject_nl": ...} for a new trigger config."""
    out = {}
    for language, (subject, body) in _TEXTS.get(trigger, {}).items():
        out[f"subject_{language}"] = subject
        out[f"body_{language}"] = f"{_HELLO[language]}\n\n{body}"
    return out


def heading(trigger: str, *, first_name: str, tier: str, program: str, subject: str) -> str:
    """The mail's header: its reason, in the active language."""
    name = first_name or _("dear member")
    headings = {
        "welcome": _("Welcome to %(program)s, %(name)s"),
        "anniversary": _("One more year together, %(name)s"),
        "thank_you": _("Thank you for your purchase, %(name)s"),
        "service_guarantee": _("Your service guarantee is active"),
        "cart_abandoned": _("Your basket is waiting, %(name)s"),
        "win_back": _("We miss you, %(name)s"),
        "birthday_soon": _("Your birthday is coming, %(name)s"),
        "birthday": _("Happy birthday, %(name)s"),
        "wedding": _("Happy wedding anniversary, %(name)s"),
        "tier_upgraded": _("Welcome to %(tier)s, %(name)s"),
        "tier_at_risk": _("Keep your %(tier)s status, %(name)s"),
        "carats_expiring": _("Your carats expire soon"),
        "club_renewal": _("Your club membership ends soon"),
        "appointment_confirmed": _("Your appointment is confirmed"),
        "appointment_reminder": _("See you tomorrow, %(name)s"),
    }
    template = headings.get(trigger)
    if template is None:
        return subject
    return template % {"name": name, "tier": tier, "program": program}


def gift_line(gift: str) -> str:
    return _("Your gift: %(gift)s") % {"gift": gift} if gift else ""


def subject_gift(gift: str) -> str:
    """What a subject that says nothing of the gift gets appended (after a dash)."""
    return _("your gift: %(gift)s") % {"gift": gift}


def footer_reason(kind: str, program: str) -> str:
    """Why the member receives this mail (kind: marketing, service, appointment, account)."""
    if kind == "marketing":
        return _(
            "You receive this e-mail because you are a member of %(program)s and agreed "
            "to hear from us."
        ) % {"program": program}
    if kind == "appointment":
        return _("You receive this e-mail because you booked an appointment with us.")
    if kind == "account":
        return _(
            "You receive this e-mail because this address was given for a %(program)s account."
        ) % {"program": program}
    return pgettext("mail footer", "You receive this e-mail about your %(program)s membership.") % {
        "program": program
    }
