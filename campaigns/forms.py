"""The console's forms for campaigns: pickers instead of typed codes, the recurring
window, the segment builder's definition, the sale simulator."""

import json
from datetime import datetime, time

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, FilteredSelectMultiple
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.catalogs import catalog_choices, split_codes
from loyalty.kernel.errors import DomainError
from loyalty.kernel.widgets import IsoDateInput

from .models import Award, EarningRule, Segment, SegmentCondition
from .models.earning import RULE_CODE_FIELDS, WEEKDAYS
from .segments import MAX_CONDITIONS, MAX_GROUPS, condition_check


class CodesField(forms.MultipleChoiceField):
    """Codes of a catalog picked from what exists, stored as comma-separated text (the
    rule's column). The choices are read when the form is made (a store added a minute
    ago is there)."""

    def __init__(self, *, kind: str, widget=None, **kwargs):
        self.kind = kind
        super().__init__(choices=(), required=False, widget=widget, **kwargs)
        self.choices = catalog_choices(kind) or []

    def prepare_value(self, value):
        return split_codes(value) if isinstance(value, str) else value

    def to_python(self, value):
        return split_codes(value) if isinstance(value, str) else super().to_python(value)

    def valid_value(self, value):
        return str(value).lower() in {str(code).lower() for code, _label in self.choices}

    def clean(self, value):
        return ",".join(super().clean(value))


def codes_formfield(kind: str, model_field) -> forms.Field:
    """A picker when the catalog of `kind` is registered; the typed text until then (e.g.
    product categories before a product catalog exists: see loyalty.kernel.catalogs).
    Checkboxes: a brand has tens of stores, not thousands (a product catalog's SKUs
    would want a search instead: an autocomplete over its own table)."""
    label, help_text = capfirst(model_field.verbose_name), model_field.help_text
    if catalog_choices(kind) is None:
        return forms.CharField(
            label=label, help_text=help_text, required=False, max_length=model_field.max_length
        )
    if kind == "sku":
        # Hundreds of articles: the console's searchable two-list picker.
        widget = FilteredSelectMultiple(label, is_stacked=False)
    else:
        widget = forms.CheckboxSelectMultiple
    return CodesField(kind=kind, widget=widget, label=label, help_text=help_text)


def sku_formfield(model_field) -> forms.Field:
    """One SKU (a free product, a rented piece) picked from the product catalog, or none."""
    choices = catalog_choices("sku")
    label = capfirst(model_field.verbose_name)
    if choices is None:
        return forms.CharField(label=label, required=False, max_length=model_field.max_length)
    return forms.ChoiceField(
        label=label,
        choices=[("", "---------"), *choices],
        required=not model_field.blank,
        help_text=model_field.help_text,
    )


class EarningRuleForm(forms.ModelForm):
    weekdays = forms.MultipleChoiceField(
        label=_("On"),
        choices=WEEKDAYS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For a weekly or monthly campaign."),
    )

    class Meta:
        model = EarningRule
        fields = [
            "name",
            "active",
            "priority",
            "stop_further",
            "member_label",
            "member_label_nl",
            "member_label_fr",
            "starts_at",
            "ends_at",
            "repeat",
            "weekdays",
            "month_week",
            "yearly_from",
            "yearly_until",
            "multiplier",
            "bonus_carats",
            "store_codes",
            "channels",
            "tiers",
            "categories",
            "skus",
            "min_amount_eur",
            "max_per_member",
            "cap_period",
            "budget_carats",
        ]
        widgets = {"yearly_from": IsoDateInput, "yearly_until": IsoDateInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, kind in RULE_CODE_FIELDS.items():
            if name in self.fields:
                model_field = EarningRule._meta.get_field(name)
                self.fields[name] = codes_formfield(kind, model_field)
        if self.instance.pk:
            self.initial["weekdays"] = split_codes(self.instance.weekdays)

    def clean_weekdays(self):
        return ",".join(sorted(self.cleaned_data.get("weekdays") or []))


class SegmentForm(forms.ModelForm):
    """The segment and its conditions: the builder (static/campaigns/segment_builder.js)
    writes the groups as JSON into `definition`; saved by the admin's save_related."""

    definition = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Segment
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["definition"] = json.dumps(definition_of(self.instance))

    def clean_definition(self):
        try:
            return conditions_from_json(self.cleaned_data.get("definition") or "")
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None


def definition_of(segment) -> dict:
    groups: dict[int, list] = {}
    for cond in segment.conditions.all():
        groups.setdefault(cond.group, []).append(
            {"field": cond.field, "value": cond.value, "negate": cond.negate}
        )
    return {"groups": [groups[g] for g in sorted(groups)]}


def conditions_from_json(text: str) -> list[SegmentCondition]:
    """The builder's definition, bounded and checked, as unsaved conditions.

    {"groups": [[{"field": "tier", "value": "gold", "negate": false}, ...], ...]}"""
    if not text.strip():
        return []
    if len(text) > 20_000:
        raise DomainError("The definition is too long.", field="definition")
    try:
        data = json.loads(text)
    except ValueError:
        raise DomainError("The definition could not be read.", field="definition") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise DomainError(f"At most {MAX_GROUPS} groups.", field="definition")
    out, now = [], timezone.now()
    for index, group in enumerate(g for g in groups if g):
        if not isinstance(group, list):
            raise DomainError("The definition could not be read.", field="definition")
        for item in group:
            cond = _condition(item, index)
            condition_check(cond, now=now)
            out.append(cond)
    if len(out) > MAX_CONDITIONS:
        raise DomainError(f"At most {MAX_CONDITIONS} conditions.", field="definition")
    return out


def _condition(item, group: int) -> SegmentCondition:
    if not isinstance(item, dict) or item.get("field") not in SegmentCondition.Field.values:
        raise DomainError("Choose a condition from the list.", field="definition")
    value = item.get("value", "")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    value = str(value).strip()
    if len(value) > 200:
        raise DomainError("A value is too long (200 characters at most).", field="definition")
    return SegmentCondition(
        field=item["field"], value=value, negate=bool(item.get("negate")), group=group
    )


class SaleSimulationForm(forms.Form):
    """What a sale would earn: the inputs of a sale, nothing written."""

    member = forms.ModelChoiceField(queryset=None, label=_("Member"))
    amount = forms.DecimalField(
        label=_("Amount"), min_value=0, max_value=10_000_000, decimal_places=2
    )
    currency = forms.ChoiceField(label=_("Currency"))
    channel = forms.ChoiceField(label=_("Channel"))
    store = forms.ModelChoiceField(queryset=None, label=_("Store"), required=False)
    date = forms.DateField(label=_("Date"), widget=IsoDateInput)
    time = forms.TimeField(label=_("Time"), initial=time(12, 0))
    lines = forms.CharField(
        label=_("Lines (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_(
            "One line per product: category, SKU, amount, quantity (e.g. rings, R-101, 450, 1)."
        ),
    )

    def __init__(self, *args, stores, channels, currencies, members, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"] = forms.ModelChoiceField(
            queryset=members,
            label=_("Member"),
            widget=AutocompleteSelect(Award._meta.get_field("member"), admin_site),
            help_text=_("Type a member number, an e-mail address or a name."),
        )
        self.fields["store"].queryset = stores
        self.fields["channel"].choices = channels
        self.fields["currency"].choices = [(c, c) for c in currencies]

    def clean_date(self):
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        if abs((day - today).days) > 5 * 366:
            raise forms.ValidationError(_("Choose a date within five years of today."))
        return day

    def clean_lines(self):
        lines = []
        for number, raw in enumerate((self.cleaned_data.get("lines") or "").splitlines(), 1):
            if not raw.strip():
                continue
            parts = [p.strip() for p in raw.split(",")]
            if len(parts) not in (3, 4):
                raise forms.ValidationError(
                    _("Line %(n)s: write category, SKU, amount[, quantity].") % {"n": number}
                )
            quantity = parts[3] if len(parts) == 4 else "1"
            if not quantity.isdigit():
                raise forms.ValidationError(
                    _("Line %(n)s: the quantity is a whole number.") % {"n": number}
                )
            lines.append(
                {
                    "category": parts[0],
                    "sku": parts[1],
                    "amount": parts[2],
                    "quantity": int(quantity),
                }
            )
        if len(lines) > 50:
            raise forms.ValidationError(_("At most 50 lines."))
        return lines

    def occurred_at(self) -> datetime:
        d = self.cleaned_data
        return timezone.make_aware(datetime.combine(d["date"], d["time"]))
