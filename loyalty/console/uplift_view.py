"""The uplift report's page in the console: /<admin>/uplift/<kind>/<id>/?days=N, for
staff who may view the experiment (a trigger, broadcast, bonus rule or challenge)."""

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.services.variants import variant_results

from .kpis.base import carat_value_eur
from .uplift import KINDS, MAX_DAYS, experiment_uplift

KIND_LABELS = {
    "trigger": gettext_lazy("trigger e-mail"),
    "broadcast": gettext_lazy("broadcast"),
    "rule": gettext_lazy("bonus campaign"),
    "challenge": gettext_lazy("challenge"),
}


def _days(request) -> int | None:
    raw = request.GET.get("days", "90")
    try:
        days = int(raw)
    except ValueError:
        return None
    return days if 1 <= days <= MAX_DAYS else None


def uplift_view(request, kind: str, pk: int, site: AdminSite):
    model = KINDS.get(kind)
    if model is None:
        raise Http404
    opts = model._meta
    if not request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        raise PermissionDenied
    obj = model.objects.filter(pk=pk).first()
    if obj is None:
        raise Http404
    days = _days(request)
    if days is None:
        return HttpResponseBadRequest(
            _("days must be a whole number from 1 to %(max)s.") % {"max": MAX_DAYS},
            content_type="text/plain; charset=utf-8",
        )
    report = experiment_uplift(kind, obj, days=days)
    variants = variant_results(obj, days=days) if kind in ("trigger", "broadcast") else []
    context = {
        **site.each_context(request),
        "title": _("Uplift: %(name)s") % {"name": obj},
        "object": obj,
        "kind_label": KIND_LABELS[kind],
        "change_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]),
        "report": report,
        "variants": variants,
        "cost_eur": (
            None
            if report.cost_per_incremental_buyer is None
            else report.cost_per_incremental_buyer * float(carat_value_eur())
        ),
        "days": days,
        "day_choices": (30, 60, 90, 180, 365),
        "opts": opts,
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/uplift.html", context)


def install(site: AdminSite) -> None:
    """Add the report's URL (name admin:uplift) to the console."""
    get_urls = site.get_urls

    def urls():
        def view(request, kind, pk):
            return uplift_view(request, kind, pk, site)

        return [
            path("uplift/<slug:kind>/<int:pk>/", site.admin_view(view), name="uplift"),
            *get_urls(),
        ]

    site.get_urls = urls
