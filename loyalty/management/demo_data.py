"""The demo program that `manage.py loaddemo` loads: tiers, rewards, clubs, actions, mail
texts, stores, rates, names and the demo logins (declarative tables)."""

from loyalty.kernel import roles

DEMO_PASSWORD = "carat-demo"  # noqa: S105 - documented demo password, refused unless DEBUG

TIERS = [
    (
        "radiant",
        "Radiant",
        1,
        0,
        "5",
        "1",
        True,
        False,
        "#c9a96e",
        "5% off every purchase\nBirthday surprise\nEarly news of new collections",
    ),
    (
        "marquise",
        "Marquise",
        2,
        500,
        "10",
        "1.25",
        True,
        False,
        "#8e6fb5",
        "10% off every purchase\n1.25 carats per EUR\nFree engraving\nBirthday surprise",
    ),
    (
        "emerald",
        "Emerald",
        3,
        1500,
        "15",
        "1.5",
        True,
        False,
        "#2e8b57",
        "15% off every purchase\n1.5 carats per EUR\nPrivate shopping hours\nFree cleaning and resizing",
    ),
    (
        "ambassador",
        "Ambassador",
        4,
        0,
        "20",
        "2",
        False,
        True,
        "#1d1d1f",
        "20% off\nVIP services and events\nProduct rental for brand events\nA free piece for each giveaway you host",
    ),
]
REWARDS = [
    ("EUR 25 voucher", "amount", 500, "25", None, [], "On any purchase in store or online."),
    ("Free jewelry cleaning and check", "product", 300, "0", None, [], "In any of our stores."),
    (
        "15% off your next piece",
        "percent",
        1200,
        "15",
        None,
        ["marquise", "emerald", "ambassador"],
        "One piece, any collection.",
    ),
    (
        "Private evening at the atelier",
        "experience",
        2500,
        "0",
        20,
        ["emerald", "ambassador"],
        "Meet our designers, for two.",
    ),
    (
        "Rent a piece for your event",
        "experience",
        1000,
        "0",
        10,
        ["ambassador"],
        "For brand events and shoots.",
    ),
]
CLUBS = [
    (
        "Bridal Circle",
        2000,
        "Early access to new engagement collections\nFree engraving\nA private fitting",
        "For brides and grooms to be.",
    ),
    (
        "Collectors' Club",
        2000,
        "First look at limited editions\nInvitations to launch evenings",
        "For those who collect our pieces.",
    ),
]
ACTIONS = [
    ("signup", "Welcome to the club", 100, {}),
    ("profile_completed", "Complete your profile", 50, {}),
    ("sms_opt_in", "Text message opt-in", 25, {}),
    ("review", "Product review", 20, {"max_per_member": 100, "cap_period": "month"}),
    (
        "review_photo",
        "Product review with a photo",
        40,
        {"max_per_member": 200, "cap_period": "month"},
    ),
    ("social_follow", "Follow us on social media", 25, {}),
    (
        "referral_referrer",
        "A friend's first purchase",
        200,
        {"max_per_member": 2000, "cap_period": "year", "once_per_reference": True},
    ),
    ("referral_friend", "Welcome from a friend", 50, {}),
    ("ugc", "Your photos with our jewelry", 50, {"max_per_member": 200, "cap_period": "month"}),
    ("event_attendance", "Brand event attendance", 75, {}),
]
_HELLO = {
    "en": "Dear {{ first_name }},",
    "nl": "Beste {{ first_name }},",
    "fr": "Chère, cher {{ first_name }},",
}
TRIGGERS = [
    (
        "welcome",
        False,
        5,
        1,
        0,
        {
            "en": (
                "Welcome to {{ program }}: your 100 carats are inside",
                _HELLO["en"]
                + "\n\nWelcome! Your first 100 carats are on your card. Show your QR code at the till: {{ site_url }}/account/",
            ),
            "nl": (
                "Welkom bij {{ program }}: je 100 karaten zitten erin",
                _HELLO["nl"]
                + "\n\nWelkom! Je eerste 100 karaten staan op je kaart. Toon je QR-code aan de kassa: {{ site_url }}/account/",
            ),
            "fr": (
                "Bienvenue au {{ program }} : vos 100 carats sont là",
                _HELLO["fr"]
                + "\n\nBienvenue ! Vos 100 premiers carats sont sur votre carte. Montrez votre QR code en caisse : {{ site_url }}/account/",
            ),
        },
    ),
    (
        "thank_you",
        True,
        20,
        1,
        0,
        {
            "en": (
                "Thank you for your visit, {{ first_name }}: 15 % off your next piece for a few answers",
                _HELLO["en"]
                + "\n\nThank you for your purchase. Tell us in two minutes how you liked it and what you love, and your next purchase is 15 % off: {{ questionnaire_link }}"
                + "\n\n{{ challenges }}",
            ),
            "nl": (
                "Bedankt voor je bezoek, {{ first_name }}: 15 % korting op je volgende juweel voor enkele antwoorden",
                _HELLO["nl"]
                + "\n\nBedankt voor je aankoop. Vertel ons in twee minuten hoe je het vond en waar je van houdt, en je volgende aankoop krijgt 15 % korting: {{ questionnaire_link }}",
            ),
            "fr": (
                "Merci de votre visite, {{ first_name }} : 15 % sur votre prochain bijou pour quelques réponses",
                _HELLO["fr"]
                + "\n\nMerci pour votre achat. Dites-nous en deux minutes ce que vous en pensez et ce que vous aimez, et votre prochain achat bénéficie de 15 % de réduction : {{ questionnaire_link }}",
            ),
        },
    ),
    (
        "service_guarantee",
        False,
        15,
        1,
        0,
        {
            "en": (
                "Your service guarantee is active",
                _HELLO["en"] + "\n\nYour piece is covered by our service guarantee.",
            ),
        },
    ),
    (
        "cart_abandoned",
        True,
        40,
        2,
        0,
        {
            "en": (
                "You left something beautiful in your basket",
                _HELLO["en"] + "\n\nYour basket is waiting for you:\n\n{{ basket }}",
            ),
        },
    ),
    (
        "win_back",
        True,
        30,
        180,
        100,
        {
            "en": (
                "We miss you, {{ first_name }}: 100 carats are waiting in store",
                _HELLO["en"]
                + "\n\nIt has been a while. Come and see our new collection: {{ gift }} are on your card.",
            ),
            "nl": (
                "We missen je, {{ first_name }}: 100 karaten wachten in de winkel",
                _HELLO["nl"]
                + "\n\nHet is even geleden. Kom onze nieuwe collectie ontdekken: {{ gift }} staan op je kaart.",
            ),
        },
    ),
    (
        "birthday_soon",
        True,
        12,
        7,
        0,
        {
            "en": (
                "Your birthday is coming: a surprise is waiting",
                _HELLO["en"] + "\n\nYour birthday is next week. A surprise awaits you in store.",
            ),
        },
    ),
    (
        "birthday",
        True,
        10,
        0,
        0,
        {
            "en": (
                "Happy birthday, {{ first_name }}: a gift is inside",
                _HELLO["en"] + "\n\nHappy birthday! Your birthday surprise is on your card.",
            ),
            "nl": (
                "Gelukkige verjaardag, {{ first_name }}: er zit een cadeau in",
                _HELLO["nl"] + "\n\nGelukkige verjaardag! Je verrassing staat op je kaart.",
            ),
            "fr": (
                "Joyeux anniversaire, {{ first_name }} : un cadeau vous attend",
                _HELLO["fr"] + "\n\nJoyeux anniversaire ! Votre surprise est sur votre carte.",
            ),
        },
    ),
    (
        "wedding",
        True,
        25,
        0,
        0,
        {
            "en": (
                "Your wedding anniversary month: celebrate with us",
                _HELLO["en"] + "\n\nHappy anniversary month.",
            ),
        },
    ),
    (
        "anniversary",
        True,
        35,
        0,
        50,
        {
            "en": (
                "One more year in {{ program }}: a gift is inside",
                _HELLO["en"] + "\n\nThank you for another year: {{ gift }} are on your card.",
            ),
        },
    ),
    (
        "tier_upgraded",
        False,
        8,
        0,
        0,
        {
            "en": (
                "You are now {{ tier }}",
                _HELLO["en"] + "\n\nCongratulations: you reached {{ tier }}.",
            ),
        },
    ),
    (
        "tier_at_risk",
        True,
        18,
        30,
        0,
        {
            "en": (
                "Keep your {{ tier }} status",
                _HELLO["en"]
                + "\n\nA purchase before {{ tier_deadline }} keeps your {{ tier }} benefits.",
            ),
        },
    ),
]
DEMO_BROADCAST = {
    "subject_en": "{{ first_name }}, our new collection is here: 2x carats this week",
    "body_en": _HELLO["en"] + "\n\nOur new collection of fine diamond rings has arrived. "
    "Come and see it in store this week and earn double carats.\n\n{{ site_url }}/",
    "subject_nl": "{{ first_name }}, onze nieuwe collectie is er: 2x karaten deze week",
    "body_nl": _HELLO["nl"] + "\n\nOnze nieuwe collectie fijne diamanten ringen is er. "
    "Kom ze deze week in de winkel bekijken en verdien dubbele karaten.\n\n{{ site_url }}/",
    "subject_fr": "{{ first_name }}, notre nouvelle collection est là : 2x carats cette semaine",
    "body_fr": _HELLO["fr"] + "\n\nNotre nouvelle collection de bagues en diamant est arrivée. "
    "Venez la découvrir en boutique cette semaine et gagnez le double de carats.\n\n{{ site_url }}/",
    "blocks": ["message", "balance", "vouchers", "popular_products"],
}
STORES = [
    ("antwerp", "Carat Antwerp", "Antwerp", "EUR", "Europe/Brussels"),
    ("london", "Carat London", "London", "GBP", "Europe/London"),
    ("geneva", "Carat Geneva", "Geneva", "CHF", "Europe/Zurich"),
]
RATES = {"GBP": "1.170000", "CHF": "1.060000", "USD": "0.920000"}
FIRST = [
    "Emma",
    "Louise",
    "Olivia",
    "Lucas",
    "Noah",
    "Marie",
    "Julie",
    "Lars",
    "Anna",
    "Sofia",
    "Elise",
    "Victor",
    "Camille",
    "Amélie",
    "Charlotte",
    "Mila",
    "Nora",
    "Jules",
    "Lina",
    "Ines",
]
LAST = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Martin",
    "Smith",
    "Brown",
    "Müller",
    "Meyer",
    "Dupont",
    "Leroy",
    "Vermeulen",
]
CATEGORIES = [("RING", "rings"), ("NECK", "necklaces"), ("EAR", "earrings"), ("BRAC", "bracelets")]


DEMO_LOGINS = [
    ("marketing@carat.example", "Marketing Team", roles.MARKETING, []),
    ("shop@carat.example", "Sam Shop", roles.STORE_STAFF, ["antwerp"]),
    ("manager@carat.example", "Morgan Manager", roles.STORE_MANAGER, ["antwerp"]),
    ("integration@carat.example", "Ivo Integration", roles.INTEGRATION_ADMIN, []),
]

# What members read of the program, in Dutch and French (and the campaigns' member-facing
# labels): (model, the name it is found by) -> fields. loaddemo fills only empty fields,
# so a text edited in the console stays.
TRANSLATIONS = {
    ("tier", "radiant"): {
        "benefits_nl": "5% korting op elke aankoop\nEen verjaardagsverrassing\nAls eerste het nieuws over nieuwe collecties",
        "benefits_fr": "5 % de remise sur chaque achat\nUne surprise d'anniversaire\nLes nouvelles collections en avant-première",
    },
    ("tier", "marquise"): {
        "benefits_nl": "10% korting op elke aankoop\n1,25 karaat per euro\nGratis gravure\nEen verjaardagsverrassing",
        "benefits_fr": "10 % de remise sur chaque achat\n1,25 carat par euro\nGravure offerte\nUne surprise d'anniversaire",
    },
    ("tier", "emerald"): {
        "name_nl": "Smaragd",
        "name_fr": "Émeraude",
        "benefits_nl": "15% korting op elke aankoop\n1,5 karaat per euro\nPrivé-winkeluren\nGratis reiniging en aanpassing",
        "benefits_fr": "15 % de remise sur chaque achat\n1,5 carat par euro\nHeures de shopping privées\nNettoyage et mise à taille offerts",
    },
    ("tier", "ambassador"): {
        "name_nl": "Ambassadeur",
        "name_fr": "Ambassadeur",
        "benefits_nl": "20% korting\nVIP-diensten en evenementen\nJuwelen te leen voor merkevenementen\nEen gratis juweel voor elke giveaway die je organiseert",
        "benefits_fr": "20 % de remise\nServices et événements VIP\nBijoux prêtés pour les événements de la maison\nUn bijou offert pour chaque giveaway que vous organisez",
    },
    ("reward", "EUR 25 voucher"): {
        "name_nl": "Bon van 25 euro",
        "name_fr": "Bon de 25 euros",
        "description_nl": "Op elke aankoop in de winkel of online.",
        "description_fr": "Sur tout achat en boutique ou en ligne.",
    },
    ("reward", "Free jewelry cleaning and check"): {
        "name_nl": "Gratis reiniging en controle van je juwelen",
        "name_fr": "Nettoyage et contrôle de vos bijoux offerts",
        "description_nl": "In al onze winkels.",
        "description_fr": "Dans toutes nos boutiques.",
    },
    ("reward", "15% off your next piece"): {
        "name_nl": "15% korting op je volgende juweel",
        "name_fr": "15 % de remise sur votre prochain bijou",
        "description_nl": "Eén juweel, uit elke collectie.",
        "description_fr": "Un bijou, de toute collection.",
    },
    ("reward", "Private evening at the atelier"): {
        "name_nl": "Privéavond in het atelier",
        "name_fr": "Soirée privée à l'atelier",
        "description_nl": "Ontmoet onze ontwerpers, met z'n tweeën.",
        "description_fr": "Rencontrez nos créateurs, à deux.",
    },
    ("reward", "Rent a piece for your event"): {
        "name_nl": "Leen een juweel voor je evenement",
        "name_fr": "Empruntez un bijou pour votre événement",
        "description_nl": "Voor merkevenementen en shoots.",
        "description_fr": "Pour les événements de la maison et les shootings.",
    },
    ("club", "Bridal Circle"): {
        "name_nl": "Bruidskring",
        "name_fr": "Cercle des mariés",
        "description_nl": "Voor wie binnenkort trouwt.",
        "description_fr": "Pour les futurs mariés.",
        "perks_nl": "Als eerste de nieuwe verlovingscollecties\nGratis gravure\nEen privépassing",
        "perks_fr": "Les nouvelles collections de fiançailles en avant-première\nGravure offerte\nUn essayage privé",
    },
    ("club", "Collectors' Club"): {
        "name_nl": "Verzamelaarsclub",
        "name_fr": "Club des collectionneurs",
        "description_nl": "Voor wie onze juwelen verzamelt.",
        "description_fr": "Pour ceux qui collectionnent nos bijoux.",
        "perks_nl": "Als eerste de gelimiteerde edities zien\nUitnodigingen voor lanceringsavonden",
        "perks_fr": "Les éditions limitées en avant-première\nInvitations aux soirées de lancement",
    },
    ("challenge", "Second sparkle"): {
        "name_nl": "Tweede schittering",
        "name_fr": "Second éclat",
        "description_nl": "Kom binnen 90 dagen na je eerste aankoop terug: dubbele karaat.",
        "description_fr": "Revenez dans les 90 jours après votre premier achat : carats doublés.",
    },
    ("earningrule", "Double carats for Valentine's week"): {
        "member_label": "Double carats for Valentine's week",
        "member_label_nl": "Dubbele karaten in de Valentijnsweek",
        "member_label_fr": "Carats doublés pour la semaine de la Saint-Valentin",
    },
    ("earningrule", "x3 on rings in Geneva"): {
        "member_label": "Triple carats on rings in Geneva",
        "member_label_nl": "Driedubbele karaten op ringen in Genève",
        "member_label_fr": "Carats triplés sur les bagues à Genève",
    },
}
