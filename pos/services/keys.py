"""API keys for tills, the web shop and the ERP (stored hashed)."""

import hashlib
import secrets

from loyalty.kernel.errors import DomainError
from pos.models import ApiKey, Store


def api_key_create(
    *, name: str, store: Store | None = None, scope: str | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the key object and the plain key, which is shown once.
    Without a scope, a store's key is a till's and a key without a store an
    integration's (as the keys made before scopes became). A till key needs a store."""
    scope = scope or (ApiKey.Scope.TILL if store is not None else ApiKey.Scope.INTEGRATION)
    if scope not in ApiKey.Scope.values:
        known = ", ".join(ApiKey.Scope.values)
        raise DomainError(f"Unknown scope {scope!r}; one of: {known}.", field="scope")
    if scope == ApiKey.Scope.TILL and store is None:
        raise DomainError("A till key belongs to a store: name one.", field="store")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    plain = f"crt_{prefix}_{secret}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=hashlib.sha256(plain.encode()).hexdigest(),
        store=store,
        scope=scope,
    )
    return key, plain
