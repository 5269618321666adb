"""Dates and numbers as members read them in Belgium (FORMAT_MODULE_PATH).

The languages stay `en`, `nl` and `fr` (the profile's choices, the cookie, the catalogs);
only the display formats differ from Django's defaults for those codes: English as in
en-GB (25/10/2026, not the US 10/25/2026), Dutch as in nl-BE (25/10/2026, not nl-NL's
25-10-2026). French is Django's `fr`, as in fr-BE. Input formats are not changed: the
forms' date fields take ISO dates (the date picker's) in every language.
"""
