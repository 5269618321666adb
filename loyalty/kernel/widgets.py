"""Form widgets shared by every page (member, POS, console)."""

from django import forms


class IsoDateInput(forms.DateInput):
    """A browser date picker. `<input type=date>` only shows a value written as
    YYYY-MM-DD, whatever the page's language; with the locale's format (31-12-1990 in
    Dutch) it shows an empty field, and saving the form untouched erased the date."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")
