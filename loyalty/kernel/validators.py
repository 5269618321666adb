"""Validators shared by every door (forms, API, import): one rule per kind of input."""

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _


def validate_email_address(value: str) -> None:
    """Django's e-mail validator, and no invisible characters: a zero-width space, a
    control character or a bidi mark passes Django's check (IDNA drops some of them),
    yet makes a second account look like the first one."""
    if any(unicodedata.category(ch)[0] in "CZ" for ch in value):
        raise ValidationError(_("Enter a valid e-mail address."), code="invalid")
    validate_email(value)
