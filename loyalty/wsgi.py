"""The WSGI application (gunicorn loyalty.wsgi).

Requests under settings.API_PREFIX go through a handler with settings.API_MIDDLEWARE
(security headers, the 503 for a database restart); everything else through the full
MIDDLEWARE of the pages. The tills call the API many times a second; pages need the
session, CSRF and language middleware the API never uses."""

import os

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
django.setup(set_prefix=False)


class ApiHandler(WSGIHandler):
    """A WSGIHandler whose middleware chain is built from settings.API_MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE; swap the list in for the
        # build only (once, at start-up, before any request).
        pages = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = pages


pages_application = WSGIHandler()
api_application = ApiHandler()


def application(environ, start_response):
    handler = pages_application
    if environ.get("PATH_INFO", "").startswith(settings.API_PREFIX):
        handler = api_application
    return handler(environ, start_response)
