"""The console page for the retroactive launch import: upload a CSV, try it as a dry run,
then import it. A thin edge over `pos.imports.history_import`.

Wired in the admin (pos/admin.py) behind `admin.site.admin_view`, which handles the login;
this view also checks the staff flag and the "add purchase" permission itself."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from loyalty.kernel.errors import DomainError
from loyalty.kernel.widgets import IsoDateInput

from .imports import history_import


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, comma-separated, header: order_id, email, phone, external_id, "
        "occurred_at, store, amount, currency.",
    )
    launch_date = forms.DateField(
        required=False,
        help_text="Tiers are computed as of the start of this day (YYYY-MM-DD); empty = now.",
        widget=IsoDateInput,
    )
    dry_run = forms.BooleanField(
        required=False,
        initial=True,
        label="Dry run",
        help_text="Do everything and report, then roll back: nothing is written.",
    )


def import_view(request):
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perm("pos.add_purchase")):
        raise PermissionDenied
    report = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                report = history_import(
                    path_or_file=form.cleaned_data["file"],
                    dry_run=form.cleaned_data["dry_run"],
                    launch=form.cleaned_data["launch_date"],
                    actor=user,
                )
            except DomainError as exc:
                form.add_error("file", exc.message)
    else:
        form = ImportForm()
    context = {
        **admin.site.each_context(request),
        "title": "Import order history",
        "form": form,
        "report": report,
        "summary": report.summary_lines(max_rejections=0) if report else [],
    }
    return render(request, "admin/pos/import_history.html", context)
