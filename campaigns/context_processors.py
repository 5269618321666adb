"""The brand of the member pages, from the program's settings (the console's "program
settings": name, logo, colours, typography), cached like the rest of the configuration.
Lazy: a page that shows no brand (the console, the API docs) reads nothing."""

from django.utils.functional import SimpleLazyObject

from .services.earning import program


def brand(request) -> dict:
    return {"brand": SimpleLazyObject(program)}
