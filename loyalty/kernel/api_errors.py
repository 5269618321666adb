"""One error shape for the whole API: {"error": {"code", "message", "fields"?}}."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404
from django.utils import translation
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.kernel.errors import DomainError


def _flatten(detail):
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail)
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    return str(detail)


class ApiPagination(LimitOffsetPagination):
    """Pages of at most 500 rows. `limit` (1-500) and `offset` (0 or more) are checked as
    the schema states them: anything else (a word, a negative number, a number past the
    bounds) is a 400 naming the parameter, not silently replaced by the default (DRF's
    way), so a client learns of its mistake."""

    max_limit = 500
    max_offset = 10**9

    def _param(self, request, name: str, low: int, high: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise exceptions.ValidationError(
                {name: f"Must be a whole number from {low} to {high}."}
            )
        return int(raw)

    def get_limit(self, request):
        limit = self._param(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return self._param(request, self.offset_query_param, 0, self.max_offset) or 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class SafeJSONParser(JSONParser):
    """JSON bodies nested absurdly deep are a 400, not a crash of the parser."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply.") from None


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        body = {"error": {"code": "too_large", "message": "The request body is too large."}}
        return Response(body, status=413)
    if isinstance(exc, OperationalError | InterfaceError):
        body = {
            "error": {
                "code": "unavailable",
                "message": "The database is briefly unavailable; retry in a few seconds.",
            }
        }
        return Response(body, status=503, headers={"Retry-After": "5"})
    if isinstance(exc, DataError):
        # A value the database cannot hold (integer or numeric out of range, ...) that
        # slipped past the edge's bounds: the client's input, so a 400 in the error shape,
        # not a 500. The transaction it broke was rolled back: nothing is half-written.
        body = {
            "error": {
                "code": "out_of_range",
                "message": "A number in the request is too large or otherwise out of range.",
            }
        }
        return Response(body, status=400)
    if isinstance(exc, DomainError):
        with translation.override("en"):  # the API's contract is English
            message = exc.message
        body = {"error": {"code": exc.code, "message": message}}
        if exc.field:
            body["error"]["fields"] = {exc.field: message}
        return Response(body, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if isinstance(fields, dict):
            message = "; ".join(f"{k}: {v}" for k, v in fields.items())
        else:
            message, fields = fields, None
        body = {"error": {"code": "invalid", "message": message}}
        if fields:
            body["error"]["fields"] = fields
        response.data = body
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": _flatten(getattr(exc, "detail", str(exc)))}}
    return response
