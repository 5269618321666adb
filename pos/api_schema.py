"""The API's OpenAPI schema class (settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]).

Its own module: drf-spectacular's AutoSchema imports DRF's views, which import the
authentication classes of pos.api_auth."""

from drf_spectacular.openapi import AutoSchema

from .api_auth import scopes_for


class ScopedAutoSchema(AutoSchema):
    """Each operation documents the key scopes it admits, from the view's own
    `required_scopes` (the declaration HasApiKey checks): a line of its description and
    the `x-required-scopes` extension."""

    def _scopes(self) -> list[str]:
        return sorted(scopes_for(self.view, self.method.upper()))

    def get_description(self):
        description = super().get_description()
        allowed = self._scopes()
        if allowed:
            line = "**API key scopes:** " + ", ".join(f"`{s}`" for s in allowed) + "."
        else:
            line = "**No API key may call this.**"
        return f"{description}\n\n{line}" if description else line

    def get_extensions(self):
        return {**super().get_extensions(), "x-required-scopes": self._scopes()}
