"""Console pages for webhooks: endpoints per integration client and the delivery log."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.kernel.admin_tools import EstimatedCountPaginator
from loyalty.kernel.models import WebhookDelivery, WebhookEndpoint
from loyalty.kernel.outbound import UnsafeDestination, check_url, resolve_public
from loyalty.kernel.webhooks import endpoint_secret_roll, new_secret, resend


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in WebhookEndpoint.EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked = every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active", "timeout_seconds"]

    def clean_url(self):
        """A friendly message at save; the real guard is loyalty.kernel.outbound at connect time
        (the name may resolve elsewhere by then)."""
        url = self.cleaned_data["url"]
        try:
            _scheme, host, port = check_url(url)
            resolve_public(host, port)
        except UnsafeDestination as exc:
            raise forms.ValidationError(exc.message) from exc
        except OSError:
            pass  # not resolvable yet: allowed, checked again on every delivery
        return url


def masked(secret: str) -> str:
    return f"{secret[:6]}{'•' * 8}{secret[-4:]}" if len(secret) > 12 else "•" * 8


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The signing secret is made by Carat and shown once, when the endpoint is created or
    its secret rolled; the page shows it masked."""

    form = EndpointForm
    list_display = ["name", "url", "active", "event_list", "created_at"]
    readonly_fields = ["signing_secret"]
    actions = ["roll_secret"]

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "events", "active", "timeout_seconds"]
        return fields if obj is None else [*fields, "signing_secret"]

    @admin.display(description=gettext_lazy("signing secret"))
    def signing_secret(self, obj):
        return masked(obj.secret) if obj and obj.secret else "-"

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events) or "all"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret = new_secret()
        super().save_model(request, obj, form, change)
        if not change:
            self._show_once(request, obj, obj.secret)

    def _show_once(self, request, endpoint, secret):
        self.message_user(
            request,
            _("Signing secret for %(name)s: %(secret)s — copy it now, it is not shown again.")
            % {"name": endpoint.name, "secret": secret},
            messages.WARNING,
        )

    @admin.action(
        description=gettext_lazy("Roll the signing secret (shown once)"),
        permissions=["change"],
    )
    def roll_secret(self, request, queryset):
        for endpoint in queryset:
            self._show_once(request, endpoint, endpoint_secret_roll(endpoint=endpoint))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "member_key",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "endpoint", "event__type"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields] + ["payload"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["resend_selected"]

    @admin.display(description="event")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="payload")
    def payload(self, obj):
        return obj.event.data

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resend (a new delivery of the same event)")
    def resend_selected(self, request, queryset):
        for d in queryset.select_related("event", "endpoint"):
            resend(delivery=d)
        self.message_user(
            request, f"Queued {queryset.count()} delivery(ies) again.", messages.SUCCESS
        )
