"""The page: computed once per period and filter (cached, re-warmed by beat), CSV
downloads, and its place as the console's start page."""

from __future__ import annotations

import hashlib
import time
from functools import wraps

from django.contrib.admin import AdminSite
from django.core.cache import cache
from django.http import HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.utils import timezone

from loyalty.console import kpis
from loyalty.console.kpis import Dashboard, Filters, Period
from loyalty.kernel import csvexport
from loyalty.kernel.replica import on_replica

from .chart_data import charts
from .data_tables import Table, cohort_rows, tables
from .form import CACHE_SECONDS, DashboardForm, can_view_dashboard, preset_period
from .number_cards import cards
from .predictions import prediction_section

# --- the view -----------------------------------------------------------------------


def _cache_key(period: Period, filters: Filters) -> str:
    raw = f"{period.start}:{period.end}:{filters.store_id}:{filters.channel}:{filters.tier_id}"
    return "carat:dashboard:v3:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def computed(
    period: Period, filters: Filters, *, refresh: bool = False, ttl: int = CACHE_SECONDS
) -> Dashboard:
    key = _cache_key(period, filters)
    result = None if refresh else cache.get(key)
    if result is None:
        # On the replica when there is one and it is not behind (else the primary).
        result = on_replica(kpis.dashboard, period, filters)
        cache.set(key, result, ttl)
    return result


def warm_cache(presets: tuple[str, ...] = ("30d",), *, ttl: int = 20 * 60) -> dict[str, float]:
    """Compute and keep the start page's views (no filters) so nobody waits for them:
    for a periodic job (e.g. every 15 minutes with the default 20-minute lifetime).
    Returns the seconds each took."""
    today = timezone.localdate()
    took = {}
    for preset in presets:
        started = time.monotonic()
        computed(preset_period(preset, today), Filters(), refresh=True, ttl=ttl)
        took[preset] = round(time.monotonic() - started, 2)
    prediction_section(refresh=True, ttl=ttl)
    return took


def csv_response(table: Table, period: Period) -> HttpResponse:
    headers = list(table.headers)
    if table.csv_rows and len(table.csv_rows[0]) < len(headers):
        headers = headers[: len(table.csv_rows[0])]
    return csvexport.csv_response(
        f"carat-{table.key}-{period.start}-{period.end}.csv", headers, table.csv_rows, stream=False
    )


# The session key of the dashboard's last period and filters.
SESSION_KEY = "carat:dashboard:query"
SELECTION = ("period", "start", "end", "store", "channel", "tier")


def remembered_selection(request) -> QueryDict:
    """The period and filters asked for, else the ones used last in this session (so
    leaving the dashboard and coming back keeps them); a valid choice is remembered."""
    asked = QueryDict(mutable=True)
    for key in SELECTION:
        if key in request.GET:
            asked.setlist(key, request.GET.getlist(key)[:1])
    if not asked and "reset" not in request.GET:
        saved = request.session.get(SESSION_KEY)
        if isinstance(saved, str) and len(saved) <= 500:
            return QueryDict(saved)
    return asked


def dashboard_view(request, site: AdminSite, extra_context=None):
    selection = remembered_selection(request)
    form = DashboardForm(selection or None, today=timezone.localdate())
    if selection and form.is_valid():
        if request.session.get(SESSION_KEY) != selection.urlencode():  # no write per view
            request.session[SESSION_KEY] = selection.urlencode()
    elif "reset" in request.GET:
        request.session.pop(SESSION_KEY, None)
    period, filters, labels = form.selection()
    data = computed(period, filters, refresh=request.GET.get("refresh") == "1")
    card_groups = cards(data)
    all_tables = tables(data, card_groups)
    export = request.GET.get("export")
    if export:
        if export not in all_tables:
            return HttpResponse("Unknown table.", status=404, content_type="text/plain")
        return csv_response(all_tables[export], period)
    query = selection.copy()
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "subtitle": None,
        "form": form,
        "period": period,
        "previous": period.previous(),
        "filter_labels": labels,
        "filters": filters,
        "dashboard": data,
        "cards": card_groups,
        "tables": all_tables,
        "cohort_rows": cohort_rows(data),
        "conversion_waiting": all(r.value is None for r in data.current.conversion.within.values()),
        "charts": charts(data),
        "query": (query.urlencode() + "&") if query else "",
        "cache_minutes": CACHE_SECONDS // 60,
        # The last nightly run's row (cached apart: it does not depend on the period).
        "predictions": prediction_section(refresh=request.GET.get("refresh") == "1"),
        **(extra_context or {}),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/dashboard.html", context)


def install(site: AdminSite) -> None:
    """Make the dashboard the site's start page (for staff allowed to see sales)."""
    app_index = site.index

    @wraps(app_index)
    def index(request, extra_context=None):
        if not can_view_dashboard(request.user):
            return app_index(request, extra_context)
        return dashboard_view(request, site, extra_context)

    site.index = index
