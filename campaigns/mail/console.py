"""The console's tools for mails (used by the trigger and broadcast admins): the block
picker (switch and order content blocks), the variable picker beside the text fields,
and the preview and test-send page (per trigger or broadcast, per language, for a chosen
member, rendered exactly as sent)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join, strip_tags
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from campaigns import mailtext
from campaigns.models import Broadcast, MessageLog, Trigger, TriggerConfig
from campaigns.services.crm import mail_test_send
from campaigns.services.dispatch import broadcast_next_send
from members.models import Member

from . import blocks as mail_blocks
from .audience import language_gaps
from .compose import preview


class BlocksWidget(forms.Widget):
    """Checkboxes in order: ticked blocks go into the mail in the order shown; the arrows
    move a block up or down (the posted order is the order on the page)."""

    template_name = "admin/campaigns/blocks_widget.html"
    trigger = "broadcast"

    def get_context(self, name, value, attrs):
        ctx = super().get_context(name, value, attrs)
        chosen = list(value) if isinstance(value, list) and value else None
        chosen = chosen or mail_blocks.DEFAULT_BLOCKS.get(self.trigger, ["message"])
        rest = [b for b in mail_blocks.BLOCKS if b not in chosen]
        ctx["rows"] = [
            {"name": b, "label": mail_blocks.BLOCKS[b], "checked": b in chosen}
            for b in [*chosen, *rest]
            if b in mail_blocks.BLOCKS
        ]
        return ctx

    def render(self, name, value, attrs=None, renderer=None):
        # The project's templates (the default form renderer reads only the apps').
        return mark_safe(render_to_string(self.template_name, self.get_context(name, value, attrs)))  # noqa: S308

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class BlocksField(forms.Field):
    widget = BlocksWidget
    default_help_text = "Tick the blocks this mail shows; the arrows order them."

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("help_text", self.default_help_text)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if not value:
            return None
        return [str(v) for v in value][: len(mail_blocks.BLOCKS)]


def variable_picker() -> str:
    """Buttons that insert a variable at the cursor of the last text field used."""
    return format_html(
        '<div class="carat-vars">{}</div>',
        format_html_join(
            " ",
            '<button type="button" class="button carat-var" data-var="{}" title="{}">{}</button>',
            ((name, desc, "{{ " + name + " }}") for name, desc in mailtext.VARIABLES.items()),
        ),
    )


def gaps_warning(source) -> str:
    gaps = language_gaps(source)
    if not gaps:
        return ""
    return format_html(
        '<p class="errornote">{}</p>',
        format_html_join(
            " ",
            "No {} text, but {} members of the audience read {}: they will get the English mail.",
            ((g["name"], g["members"], g["name"]) for g in gaps),
        ),
    )


MAIL_FIELDSETS = [
    ("Preview", {"fields": ["preview_link", "language_gaps"]}),
    ("Content blocks", {"fields": ["blocks"]}),
    ("English", {"fields": ["subject_en", "body_en", "variables"]}),
    ("Nederlands", {"fields": ["subject_nl", "body_nl"], "classes": ["collapse"]}),
    ("Français", {"fields": ["subject_fr", "body_fr"], "classes": ["collapse"]}),
]


def preview_link(obj) -> str:
    if obj is None or not obj.pk:
        return "Save first."
    source = f"b:{obj.pk}" if isinstance(obj, Broadcast) else f"t:{obj.trigger}"
    url = reverse("admin:campaigns_mail_preview") + "?" + urlencode({"source": source})
    return format_html('<a class="button" href="{}">Preview and send a test</a>', url)


def gaps_text(obj) -> str:
    if obj is None or not obj.pk:
        return "-"
    return gaps_warning(obj) or "Every language the audience reads has a text."


def warn_gaps(model_admin, request, broadcast) -> None:
    warning = gaps_warning(broadcast)
    if warning:
        model_admin.message_user(request, f"{broadcast.name}: {strip_tags(warning)}", "warning")


def when_text(broadcast) -> str:
    """When the broadcast's mails go, in words for the console."""
    if broadcast is None or not broadcast.pk:
        return "-"
    if broadcast.status == Broadcast.Status.DRAFT:
        return "not scheduled (draft)"
    if broadcast.status != Broadcast.Status.SCHEDULED:
        return broadcast.get_status_display()
    at = broadcast_next_send(broadcast)
    return f"from {timezone.localtime(at):%Y-%m-%d %H:%M}" if at else "-"


def going_text(broadcast, *, now: bool = False) -> str:
    if now:
        return (
            f"{broadcast.name}: sending now; the mails go out from "
            f"{timezone.localtime():%H:%M}, within a minute."
        )
    return f"{broadcast.name}: scheduled; the mails go out {when_text(broadcast)}."


def broadcast_results(broadcast) -> str:
    r = MessageLog.objects.filter(broadcast=broadcast).aggregate(
        sent=Count("id", filter=Q(status="sent")),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        delivered=Count("id", filter=Q(delivery="delivered")),
        bounced=Count("id", filter=Q(delivery="bounced")),
        complained=Count("id", filter=Q(delivery="complained")),
    )
    return " / ".join(str(v) for v in r.values()) if r["sent"] else "-"


class PreviewForm(forms.Form):
    source = forms.ChoiceField(label="Mail")
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    member = forms.ModelChoiceField(
        queryset=Member.objects.filter(erased_at__isnull=True),
        widget=AutocompleteSelect(MessageLog._meta.get_field("member"), None),
        help_text="Type a name, member number or e-mail.",
    )

    def __init__(self, *args, admin_site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].widget.admin_site = admin_site
        broadcasts = Broadcast.objects.order_by("-created_at").values_list("pk", "name")[:200]
        self.fields["source"].choices = [
            ("Trigger e-mails", [(f"t:{v}", label) for v, label in Trigger.choices if v != "broadcast"]),
            ("Broadcasts", [(f"b:{pk}", name) for pk, name in broadcasts]),
        ]  # fmt: skip

    def source_object(self):
        kind, _sep, key = self.cleaned_data["source"].partition(":")
        if kind == "b":
            return None, Broadcast.objects.filter(pk=key).first()
        return key, None


def preview_view(model_admin, request):
    """GET: the preview of the chosen mail for the chosen member and language. POST with
    "send": the same mail to the signed-in marketer's address, marked [TEST]."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = PreviewForm(data, admin_site=model_admin.admin_site)
    ctx = {
        **model_admin.admin_site.each_context(request),
        "form": form,
        "title": "Preview and test",
    }
    ctx["opts"] = TriggerConfig._meta
    if form.is_bound and form.is_valid():
        trigger, broadcast = form.source_object()
        member, language = form.cleaned_data["member"], form.cleaned_data["language"]
        if request.method == "POST":
            if not model_admin.has_change_permission(request):
                raise PermissionDenied
            mail_test_send(
                to=request.user.email, member=member, language=language,
                trigger=trigger or "", broadcast=broadcast,
            )  # fmt: skip
            messages.success(request, f"Test sent to {request.user.email}.")
        rendered = preview(
            member=member, language=language, trigger=trigger or "", broadcast=broadcast
        )
        source = broadcast or TriggerConfig.objects.filter(trigger=trigger).first()
        ctx.update(
            mail=rendered,
            srcdoc=rendered.html_for_browser(),
            warning=gaps_warning(source) if source is not None else "",
            configured=source is not None,
        )
    return render(request, "admin/campaigns/mail_preview.html", ctx)
