"""Production settings (loyalty.settings) plus one thing the drills need: the
EMAIL_BACKEND variable is honoured even with DJANGO_DEBUG=false.

Only used when the drill detects that loyalty.settings ignores EMAIL_BACKEND in
production (its EMAIL_URL default overwrites it); see drills/results.md."""

import os

from loyalty.settings import *  # noqa: F403

if os.environ.get("EMAIL_BACKEND"):
    EMAIL_BACKEND = os.environ["EMAIL_BACKEND"]
