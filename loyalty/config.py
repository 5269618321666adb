"""A short per-process cache for program configuration read on every sale (the program,
active rules and challenges, tiers, webhook endpoints). Changes made in the console are
seen within CARAT_CONFIG_CACHE_SECONDS (default 5; 0 turns the cache off, as in tests).
Nothing here is shared between processes, so several web nodes need no coordination."""

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")
_store: dict[str, tuple[float, object]] = {}


def cached(name: str, loader: Callable[[], T]) -> T:
    ttl = getattr(settings, "CARAT_CONFIG_CACHE_SECONDS", 5)
    if ttl <= 0:
        return loader()
    now = time.monotonic()
    hit = _store.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]  # type: ignore[return-value]
    value = loader()
    _store[name] = (now + ttl, value)
    return value


def clear() -> None:
    _store.clear()
