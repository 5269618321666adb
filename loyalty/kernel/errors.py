"""The one domain error type. Services raise these; each edge maps them in one place
(`loyalty.kernel.api_errors` for the API, a message on pages)."""


class DomainError(Exception):
    """A business rule said no. `code` is stable for clients; the message is for humans."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


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
