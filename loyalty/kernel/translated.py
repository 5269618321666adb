"""Program content in the member's language: one home for the fallback.

Text that marketing writes in the console and members read (tier names and benefits,
rewards, clubs, challenges, badges, a campaign's member-facing label) has a column per
language: the English text in the field itself (`name`), the others beside it
(`name_nl`, `name_fr`). Plain columns rather than one JSON field of translations: the
console edits them as ordinary fields, each with its own length limit, and a missing
language is an empty field the console can point at. A member reads the field of the
active language, and the English text where that one is empty.
"""

from django.conf import settings
from django.utils import translation

# The languages beside the source (English) that program content is written in.
OTHER_LANGUAGES = tuple(code for code, _ in settings.LANGUAGES if code != "en")


def localized(obj, field: str, language: str | None = None) -> str:
    """`obj.field` in `language` (the active one by default), else the English text."""
    language = (language or translation.get_language() or "en").split("-")[0]
    if language != "en":
        text = getattr(obj, f"{field}_{language}", "") or ""
        if text.strip():
            return text
    return getattr(obj, field, "") or ""


def missing_languages(obj, fields: tuple[str, ...]) -> list[str]:
    """The languages (names, as the console shows them) some filled-in field lacks."""
    names = dict(settings.LANGUAGES)
    return [
        str(names[code])
        for code in OTHER_LANGUAGES
        if any(
            (getattr(obj, f, "") or "").strip()
            and not (getattr(obj, f"{f}_{code}", "") or "").strip()
            for f in fields
        )
    ]
