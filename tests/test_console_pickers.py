"""No console form the Marketing role can open lets a typed code stand in for something
that exists (a store, a channel, a tier, a club; product categories and SKUs once a
product catalog is registered): such a field is a picker.

How a field "names codes" is decided here, so the test can fail:
- the model field is registered in loyalty.kernel.catalogs.CODE_FIELDS (a column that
  keeps codes as text for speed) and its catalog exists; or
- its name ends in code(s), store(s), channel(s), tier(s), club(s), category/categories
  or sku(s), or its help text speaks of codes or of a comma-separated list -
unless it is the row's own identifier (a unique column: a tier's own code) or registered
as a kind whose catalog does not exist yet (free text until then).
A field that names codes must be a choice field (a select, checkboxes, an autocomplete)."""

import re

from django import forms
from django.contrib import admin
from django.test import RequestFactory

from loyalty.kernel.catalogs import CODE_FIELDS, catalog_choices

CODE_NAME = re.compile(
    r"(^|_)(codes?|stores?|channels?|tiers?|clubs?|category|categories|skus?)$", re.I
)
CODE_HELP = re.compile(r"\bcodes?\b|comma-separated", re.I)


def _names_codes(model, name: str, field: forms.Field) -> bool:
    label = f"{model._meta.app_label}.{model._meta.model_name}.{name}"
    if label in CODE_FIELDS:
        return catalog_choices(CODE_FIELDS[label]) is not None
    try:
        model_field = model._meta.get_field(name)
    except Exception:  # a form-only field
        model_field = None
    if model_field is not None and _own_identifier(model, model_field):
        return False  # the row's own code, not a reference
    return bool(CODE_NAME.search(name) or CODE_HELP.search(str(field.help_text or "")))


def _own_identifier(model, model_field) -> bool:
    if model_field.primary_key or model_field.unique:
        return True
    return any(
        getattr(c, "fields", None) == (model_field.name,)
        or getattr(c, "fields", None) == [model_field.name]
        for c in model._meta.constraints
    )


def _forms_of(model_admin, request):
    if model_admin.has_add_permission(request):
        yield model_admin.model, model_admin.get_form(request, None)
    elif model_admin.has_change_permission(request):
        yield model_admin.model, model_admin.get_form(request, None, change=True)
    else:
        return  # seen, never written
    for inline in model_admin.get_inline_instances(request, None):
        if inline.has_add_permission(request, None) or inline.has_change_permission(request):
            yield inline.model, inline.get_formset(request, None).form


def free_text_code_fields(user) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    offenders = []
    for model_admin in admin.site._registry.values():
        if not model_admin.has_view_permission(request):
            continue
        for model, form_class in _forms_of(model_admin, request):
            for name, field in form_class().fields.items():
                if field.disabled or isinstance(field.widget, forms.HiddenInput):
                    continue
                picker = isinstance(field, forms.ChoiceField | forms.ModelChoiceField)
                if _names_codes(model, name, field) and not picker:
                    offenders.append(f"{model._meta.label_lower}.{name}")
    return sorted(offenders)


def test_marketing_forms_pick_codes_from_what_exists(console_user):
    user = console_user("Marketing")
    assert free_text_code_fields(user) == []


def test_a_typed_code_field_is_found(console_user, monkeypatch):
    """The check fails on the rule form as it was: store codes typed in."""
    from campaigns.console_admin import EarningRuleAdmin
    from campaigns.models import EarningRule

    class Typed(forms.ModelForm):
        class Meta:
            model = EarningRule
            fields = ["name", "store_codes", "channels", "tiers"]

    monkeypatch.setattr(EarningRuleAdmin, "form", Typed)
    user = console_user("Marketing")
    found = free_text_code_fields(user)
    assert "campaigns.earningrule.store_codes" in found
    assert "campaigns.earningrule.channels" in found
