"""A short per-process cache for program configuration read on every sale (the program,
active rules and challenges, tiers, webhook endpoints). Changes made in the console are
seen within CARAT_CONFIG_CACHE_SECONDS (default 5; 0 turns the cache off, as in tests).
Nothing here is shared between processes, so several web nodes need no coordination."""

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

T = TypeVar("T")
_store: dict[str, tuple[float, object]] = {}
_ttl: list[int] = []  # the setting, read once (a sale asks for it about 20 times)


def ttl() -> int:
    """CARAT_CONFIG_CACHE_SECONDS."""
    if not _ttl:
        _ttl.append(getattr(settings, "CARAT_CONFIG_CACHE_SECONDS", 5))
    return _ttl[0]


@receiver(setting_changed)
def _setting_changed(*, setting, **kwargs):
    if setting == "CARAT_CONFIG_CACHE_SECONDS":  # tests change it
        _ttl.clear()


def cached(name: str, loader: Callable[[], T]) -> T:
    ttl_ = ttl()
    if ttl_ <= 0:
        return loader()
    now = time.monotonic()
    hit = _store.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]  # type: ignore[return-value]
    value = loader()
    _store[name] = (now + ttl_, value)
    return value


def clear() -> None:
    _store.clear()
