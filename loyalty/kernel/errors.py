"""The one domain error type. Services raise these; each edge maps them in one place
(`loyalty.kernel.api_errors` for the API, a message on pages).

The message is written in English and read in the language of whoever reads it: `message`
looks it up in the translation catalogs when it is read (pages: the visitor's language;
the API answers in English, see api_errors). Values go in `params`, not into the text
(`DomainError(gettext_noop("%(field)s is too large."), params={"field": label})`), so the
text stays one catalog entry."""

from django.utils import translation


class DomainError(Exception):
    """A business rule said no. `code` is stable for clients; the message is for humans."""

    code = "invalid"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        params: dict | None = None,
    ):
        self.text, self.params = str(message), params
        super().__init__(self.text % params if params else self.text)
        if code:
            self.code = code
        self.field = field

    @property
    def message(self) -> str:
        """The message in the active language (English when there is no translation)."""
        text = translation.gettext(self.text) if self.text else self.text
        return text % {k: str(v) for k, v in self.params.items()} if self.params else text


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class UnknownMember(NotFound):
    """No member by this code, number or id, or the member's account is erased: an erased
    member is closed (no earning, spending or lookups) and looks like an unknown one."""

    code = "unknown_member"

    def __init__(self, message: str = "No such member.", **kwargs):
        super().__init__(message, **kwargs)


class InsufficientCarats(DomainError):
    code = "insufficient_carats"
    status = 409


class UnknownCurrency(DomainError):
    code = "unknown_currency"


class MissingRate(DomainError):
    code = "missing_rate"
