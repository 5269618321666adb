"""Program configuration is cached briefly per process (seen within the TTL)."""

from decimal import Decimal

from campaigns.models import Program
from campaigns.services import program
from loyalty.kernel import config


def test_program_is_cached_within_the_ttl_and_reloaded_after(tiers, settings):
    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    config.clear()
    try:
        first = program_settings()
        Program.objects.update(carats_per_eur=Decimal("3"))
        assert program_settings().carats_per_eur == first.carats_per_eur  # cached
        config.clear()  # what the TTL's end does
        assert program_settings().carats_per_eur == Decimal("3")
    finally:
        config.clear()


def program_settings():
    return program()
