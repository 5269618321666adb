"""The console's catalog: categories and products (CSV upload and export), the best
sellers, and the thank-you questionnaire's answers (a read-only list and the member's
inline). Registered from pos/admin.py: the upload links the sales' flagged lines, which
is the sales app's business."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from campaigns.models import Category, PopularProduct, Product
from campaigns.services.catalog import CSV_HEADER, MAX_BATCH, products_from_csv, products_upsert
from loyalty.kernel.admin_tools import ReadOnlyAdmin, ReadOnlyInline, TranslatedContentAdmin
from loyalty.kernel.csvexport import csv_response
from loyalty.kernel.errors import DomainError

from .models import QuestionnaireAnswer
from .services.catalog import lines_link

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


@admin.register(Category)
class CategoryAdmin(TranslatedContentAdmin):
    translated = ("name",)
    list_display = ["code", "name", "name_nl", "name_fr", "position"]
    list_editable = ["position"]
    search_fields = ["code", "name"]


class CatalogUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, comma-separated, header: {', '.join(CSV_HEADER)} (sku, name, "
        f"category and price required; at most {MAX_BATCH} products). Products are created "
        "or updated by SKU; one bad row refuses the file.",
    )


def catalog_upload_view(request):
    user = request.user
    if not (
        user.is_active
        and user.is_staff
        and user.has_perm("campaigns.add_product")
        and user.has_perm("campaigns.change_product")
    ):
        raise PermissionDenied
    form = CatalogUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > MAX_UPLOAD_BYTES:
                raise DomainError("The file is larger than 2 MB.", field="file")
            report = products_upsert(products_from_csv(upload.read()))
        except DomainError as exc:
            form.add_error("file", exc.message)
        else:
            linked = lines_link(report.created + report.updated)
            messages.success(
                request,
                f"Catalog: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged; {linked} earlier sale lines linked.",
            )
            return HttpResponseRedirect(reverse("admin:campaigns_product_changelist"))
    context = {
        **admin.site.each_context(request),
        "title": "Upload the product catalog",
        "form": form,
    }
    return render(request, "admin/campaigns/product/upload.html", context, status=200)


@admin.register(Product)
class ProductAdmin(TranslatedContentAdmin):
    translated = ("name",)
    list_display = ["sku", "name", "category", "price", "currency", "active", "updated_at"]
    list_filter = ["active", "category"]
    search_fields = ["sku", "name"]
    list_select_related = ["category"]
    actions = ["export_csv"]
    change_list_template = "admin/campaigns/product/change_list.html"

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(catalog_upload_view),
                name="campaigns_product_upload",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Export the selected products as CSV")
    def export_csv(self, request, queryset):
        rows = (
            (
                p.sku,
                p.name,
                p.name_nl,
                p.name_fr,
                p.category.code,
                p.price,
                p.currency,
                p.image_url,
                p.active,
            )
            for p in queryset.select_related("category").order_by("sku")
        )
        return csv_response("products.csv", CSV_HEADER, rows)


@admin.register(PopularProduct)
class PopularProductAdmin(ReadOnlyAdmin):
    list_display = ["category", "rank", "product", "units", "computed_at"]
    list_filter = ["category"]
    list_select_related = ["category", "product"]


ANSWER_FIELDS = [
    "answered_at",
    "purchase",
    "satisfaction",
    "bought_for",
    "metal",
    "stone",
    "style",
    "ring_size",
    "partner_birthday",
    "wedding_anniversary",
    "voucher",
]


@admin.register(QuestionnaireAnswer)
class QuestionnaireAnswerAdmin(ReadOnlyAdmin):
    list_display = ["answered_at", "member", *ANSWER_FIELDS[2:8]]
    list_filter = ["satisfaction", "bought_for", "metal", "stone", "style"]
    list_select_related = ["member"]
    raw_id_fields = ["member", "purchase", "voucher"]
    search_fields = ["member__member_number", "member__email"]
    date_hierarchy = "answered_at"


class QuestionnaireAnswerInline(ReadOnlyInline, admin.TabularInline):
    """The member's questionnaire answers, latest first (the history is kept)."""

    model = QuestionnaireAnswer
    fk_name = "member"
    fields = ANSWER_FIELDS
    readonly_fields = ANSWER_FIELDS
    ordering = ["-answered_at", "-pk"]
    verbose_name = "questionnaire answer"
    verbose_name_plural = "questionnaire answers (tastes and dates, latest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("purchase", "voucher")
