"""The console's start page: the KPI dashboard, for a period compared with the one before,
filtered by store, channel and tier, with charts and tables (each table exports as CSV).

Wiring: `install(admin.site)` (called from loyalty/console/admin.py) replaces the site's index
view. Staff who may see members and sales get the dashboard; other staff keep the
ordinary app list. The URL is the admin's own start page, so no URL is added, and the
admin's login, staff check, CSRF and never-cache wrapping stay as they are.

The numbers come from loyalty.console.kpis (set-based SQL), read from the hourly rollups of
loyalty.console.rollup while they are recent (the page says as of when), else live. A computed
dashboard is cached for CACHE_SECONDS per period and filters; "Refresh" recomputes it.
"""

from .chart_data import (
    charts,
)
from .data_tables import (
    Table,
    cohort_rows,
    heat,
    tables,
)
from .form import (
    CACHE_SECONDS,
    EARLIEST,
    MAX_DAYS,
    NONE,
    PRESETS,
    REQUIRED_PERMISSIONS,
    DashboardForm,
    can_view_dashboard,
    preset_period,
)
from .number_cards import (
    Card,
    cards,
    fmt_dec,
    fmt_eur,
    fmt_eur_short,
    fmt_int,
    fmt_rate,
)
from .view import (
    computed,
    csv_response,
    dashboard_view,
    install,
    warm_cache,
)

__all__ = [
    "CACHE_SECONDS",
    "EARLIEST",
    "MAX_DAYS",
    "NONE",
    "PRESETS",
    "REQUIRED_PERMISSIONS",
    "Card",
    "DashboardForm",
    "Table",
    "can_view_dashboard",
    "cards",
    "charts",
    "cohort_rows",
    "computed",
    "csv_response",
    "dashboard_view",
    "fmt_dec",
    "fmt_eur",
    "fmt_eur_short",
    "fmt_int",
    "fmt_rate",
    "heat",
    "install",
    "preset_period",
    "tables",
    "warm_cache",
]
