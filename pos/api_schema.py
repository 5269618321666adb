"""The API's OpenAPI schema class (settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]).

Its own module: drf-spectacular's AutoSchema imports DRF's views, which import the
authentication classes of pos.api_auth."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from .api_auth import scopes_for

# What DRF's CharField refuses whatever its other rules, stated as a pattern a generated
# client can check: a NUL character, and (unless blanks are allowed) nothing but
# whitespace (DRF trims it, then finds the value blank).
TEXT = r"^[^\x00]*$"
NON_BLANK_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


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

    def _map_basic_serializer(self, serializer, direction):
        """A request body of a StrictSerializer refuses keys it does not know (a
        misspelt field is a 400): `additionalProperties: false` says so."""
        from .serializers.base import StrictSerializer  # imports the services

        outer, self._direction = getattr(self, "_direction", None), direction
        try:
            schema = super()._map_basic_serializer(serializer, direction)
        finally:
            self._direction = outer
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(self, field, schema):
        """A text input's schema states what DRF refuses in any text (see TEXT), unless
        the field states its own pattern, choices or format."""
        super()._insert_field_validators(field, schema)
        if schema.get("format") == "email":
            # The e-mail addresses the API takes are stated by their pattern (see
            # EmailAddressField); the "email" format (RFC 5321: e.g. a local part of at
            # most 64 characters) is another rule than Django's, so it is not claimed.
            del schema["format"]
        if (
            getattr(self, "_direction", None) == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "enum", "format", "oneOf"} & schema.keys()
        ):
            schema["pattern"] = TEXT if field.allow_blank else NON_BLANK_TEXT

    def _get_response_bodies(self, direction="response"):
        """The operation's own responses, and every error it may answer whatever it
        does (pos.api.base.ALWAYS, and ON_WRITES for a write) in the one error shape.
        (@extend_schema replaces get_response_serializers, so the merge is here.)"""
        from .api.base import ALWAYS, ON_WRITES, error_response  # imports DRF's views

        responses = super()._get_response_bodies(direction)
        statuses = ALWAYS + (ON_WRITES if self.method.upper() != "GET" else ())
        for code in statuses:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    error_response(code), str(code), direction=direction
                )
        for code, headers in _ERROR_HEADERS.items():
            if code in responses:
                responses[code].setdefault("headers", {}).update(headers)
        return responses

    def get_extensions(self):
        return {**super().get_extensions(), "x-required-scopes": self._scopes()}


def _header(description: str, required: bool) -> dict:
    return {"schema": {"type": "string"}, "description": description, "required": required}


# The headers an error carries: how to authenticate, when to retry.
_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": _header("The scheme to send the key with: `Bearer`.", True)},
    "429": {"Retry-After": _header("Seconds until the rate limit's window ends.", False)},
    "503": {"Retry-After": _header("Seconds to wait before retrying.", True)},
}
