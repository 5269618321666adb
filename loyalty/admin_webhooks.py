"""Console pages for webhooks: endpoints per integration client and the delivery log."""

import secrets

from django import forms
from django.contrib import admin, messages

from .admin_tools import EstimatedCountPaginator
from .models import WebhookDelivery, WebhookEndpoint
from .webhooks import resend


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in WebhookEndpoint.EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active", "timeout_seconds", "secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["secret"].initial = "whsec_" + secrets.token_urlsafe(24)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["name", "url", "active", "event_list", "created_at"]

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events) or "all"


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
