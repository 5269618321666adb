# English as in en-GB: day before month.
DATE_FORMAT = "j F Y"  # '25 October 2026'
DATETIME_FORMAT = "j F Y, H:i"  # '25 October 2026, 14:30'
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "d/m/Y"  # '25/10/2026'
SHORT_DATETIME_FORMAT = "d/m/Y H:i"  # '25/10/2026 14:30'
FIRST_DAY_OF_WEEK = 1  # Monday
