"""`{{ tier|localized:"name" }}`: program content in the page's language (see
loyalty.kernel.translated)."""

from django import template

from loyalty.kernel.translated import localized as _localized

register = template.Library()


@register.filter
def localized(obj, field: str) -> str:
    return _localized(obj, field)


@register.filter
def minus(value, other):
    """`{{ member.balance|minus:cost }}`: the balance after spending `cost`."""
    try:
        return int(value) - int(other)
    except (TypeError, ValueError):
        return ""
