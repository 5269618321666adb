# Dutch as in nl-BE: 25/10/2026 (nl-NL writes 25-10-2026).
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
