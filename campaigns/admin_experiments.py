"""The console's side of experiments: the A/B variants of a trigger or broadcast (inline,
2-4 per mail, texts through the sandbox like the mail's own) and the link to each
experiment's uplift report."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import mailtext
from .models import MailVariant

MIN_VARIANTS, MAX_VARIANTS = 2, 4


class VariantFormSet(forms.BaseInlineFormSet):
    """None, or 2 to 4 variants: one variant alone is not a test."""

    def clean(self):
        super().clean()
        kept = [
            f
            for f in self.forms
            if f.cleaned_data
            and not f.cleaned_data.get("DELETE")
            and f.has_changed() | bool(f.instance.pk)
        ]
        if kept and not MIN_VARIANTS <= len(kept) <= MAX_VARIANTS:
            raise forms.ValidationError(
                _("An A/B test needs 2 to 4 variants (or none); this mail has %(n)s.")
                % {"n": len(kept)}
            )


class VariantInline(admin.StackedInline):
    model = MailVariant
    formset = VariantFormSet
    extra = 0
    max_num = MAX_VARIANTS
    verbose_name = gettext_lazy("A/B variant")
    verbose_name_plural = gettext_lazy(
        "A/B variants of the subject and body (2-4; members are split evenly and stably)"
    )
    fields = [
        "name",
        ("subject_en", "body_en"),
        ("subject_nl", "body_nl"),
        ("subject_fr", "body_fr"),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and db_field.name.startswith("body_"):
            # The variables once per variant (beside the English body), as on the mail.
            formfield.help_text = mailtext.HELP_TEXT if db_field.name == "body_en" else ""
            formfield.widget.attrs["rows"] = 5
        return formfield


class TriggerVariantInline(VariantInline):
    fk_name = "trigger"
    exclude = ["broadcast"]


class BroadcastVariantInline(VariantInline):
    fk_name = "broadcast"
    exclude = ["trigger"]


def uplift_link(obj, kind: str) -> str:
    """A link to the experiment's uplift report (or a dash for an unsaved object)."""
    if obj is None or not obj.pk:
        return "-"
    url = reverse("admin:uplift", args=[kind, obj.pk])
    if not obj.holdout_percent and kind not in ("trigger", "broadcast"):
        return format_html(
            '<a href="{}">{}</a> ({})', url, _("uplift report"), _("no control group")
        )
    return format_html('<a href="{}">{}</a>', url, _("uplift report"))


class UpliftLink:
    """For the admin of an experiment: the read-only field `uplift` (set `uplift_kind`)."""

    uplift_kind = ""

    @admin.display(description=gettext_lazy("uplift"))
    def uplift(self, obj):
        return uplift_link(obj, self.uplift_kind)


EXPERIMENT_FIELDSET_NAME = gettext_lazy("Experiment: control group and A/B test")
HOLDOUT_FIELDSET_NAME = gettext_lazy("Experiment: control group")
