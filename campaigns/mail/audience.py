"""Who a broadcast or trigger reaches, by language: the console warns when a language
version is empty while the audience has members who read that language (they would get
the English mail)."""

from django.conf import settings
from django.db.models import Count

from campaigns.models import Broadcast, TriggerConfig
from campaigns.segments import segment_members
from members.models import Member


def language_gaps(source: Broadcast | TriggerConfig) -> list[dict]:
    """[{"language": "fr", "name": "Français", "members": 120}] for each language the
    audience reads whose body is empty (English is the fallback, never a gap)."""
    empty = [
        code
        for code, _name in settings.LANGUAGES
        if code != "en" and not (getattr(source, f"body_{code}", "") or "").strip()
    ]
    if not empty:
        return []
    segment = getattr(source, "segment", None)
    if segment is not None:
        audience = segment_members(segment)
    else:
        audience = Member.objects.filter(erased_at__isnull=True)
    if getattr(source, "marketing", True):
        audience = audience.filter(email_opt_in=True)
    counts = dict(
        audience.filter(language__in=empty)
        .order_by()
        .values("language")
        .annotate(n=Count("pk"))
        .values_list("language", "n")
    )
    names = dict(settings.LANGUAGES)
    return [
        {"language": code, "name": str(names[code]), "members": counts[code]}
        for code in empty
        if counts.get(code)
    ]
