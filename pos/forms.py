"""Forms of the POS scan page. They only shape and pre-check the input; the services
(pos.services, campaigns.services) stay the single place where the business rules live,
and their DomainError messages are shown next to the form."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.errors import DomainError

from .services import parse_amount

LINE_ROWS = 3  # optional item lines offered on the sale form


def _normalize_amount(value: str) -> str:
    """Accept what people type at a European till: "129,90" is 129.90."""
    value = (value or "").strip().replace(" ", "")
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    return value


def _amount(value: str, label: str) -> Decimal:
    try:
        return parse_amount(_normalize_amount(value), field=label)
    except DomainError as exc:
        raise forms.ValidationError(exc.message) from None


class _PosForm(forms.Form):
    """Django renders aria-invalid on fields with errors; pos.js focuses the first one."""

    error_status = 400

    def add_domain_error(self, exc: DomainError) -> None:
        """Show a service's refusal on the form, next to its field when there is one."""
        self.error_status = exc.status
        self.add_error(exc.field if exc.field in self.fields else None, exc.message)


def _text(label, *, max_length=64, required=True, **attrs):
    base = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=forms.TextInput(attrs={**base, **attrs}),
    )


def _money(label, *, required=True):
    return _text(label, max_length=20, required=required, inputmode="decimal")


class ScanForm(_PosForm):
    code = _text(
        _("Member QR code or number"),
        max_length=80,
        enterkeyhint="go",
        placeholder=_("Scan or type the number"),
    )


class StoreForm(forms.Form):
    store = forms.CharField(max_length=16)


class SaleForm(_PosForm):
    store = forms.CharField(max_length=16, widget=forms.HiddenInput)
    amount = _money(_("Amount"))
    currency = forms.CharField(label=_("Currency"), max_length=3)
    receipt_id = _text(_("Receipt number"))

    def __init__(self, *args, currencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        # A select of the known currencies, but the value is checked by the service so an
        # unknown one is refused with the program's own message.
        self.fields["currency"].widget = forms.Select(choices=[(c, c) for c in currencies])
        for i in range(LINE_ROWS):
            # Short labels: the template puts them under an "Item n" legend.
            self.fields[f"line_{i}_sku"] = _text(_("SKU"), required=False)
            self.fields[f"line_{i}_category"] = _text(_("Category"), required=False)
            self.fields[f"line_{i}_amount"] = _money(_("Amount"), required=False)

    def clean_amount(self):
        return _amount(self.cleaned_data["amount"], str(_("Amount")))

    def clean_currency(self):
        return self.cleaned_data["currency"].strip().upper()

    def clean(self):
        data = super().clean()
        lines = []
        for i in range(LINE_ROWS):
            sku = (data.get(f"line_{i}_sku") or "").strip()
            category = (data.get(f"line_{i}_category") or "").strip()
            amount = (data.get(f"line_{i}_amount") or "").strip()
            if not (sku or category or amount):
                continue
            label = _("Item %(n)s") % {"n": i + 1}
            if not sku:
                self.add_error(f"line_{i}_sku", _("%(item)s needs a SKU.") % {"item": label})
                continue
            try:
                line_amount = _amount(amount, str(_("%(item)s amount") % {"item": label}))
            except forms.ValidationError as exc:
                self.add_error(f"line_{i}_amount", exc)
                continue
            lines.append({"sku": sku, "category": category, "amount": line_amount})
        data["lines"] = lines
        return data

    def line_rows(self):
        """[[sku, category, amount]] bound fields, for the template."""
        return [
            [self[f"line_{i}_{part}"] for part in ("sku", "category", "amount")]
            for i in range(LINE_ROWS)
        ]

    def has_line_data(self) -> bool:
        return self.is_bound and any(
            (self.data.get(f"line_{i}_{part}") or "").strip()
            for i in range(LINE_ROWS)
            for part in ("sku", "category", "amount")
        )


class ReturnForm(_PosForm):
    store = forms.CharField(max_length=16, widget=forms.HiddenInput)
    receipt_id = _text(_("Receipt number of the sale"))
    return_id = _text(_("Return number"))
    amount = _money(_("Amount"))

    def clean_amount(self):
        return _amount(self.cleaned_data["amount"], str(_("Amount returned")))


class RegisterForm(_PosForm):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "autocapitalize": "off"}),
    )
    first_name = forms.CharField(
        label=_("First name"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )
    language = forms.ChoiceField(
        label=_("Language of e-mails"), choices=settings.LANGUAGES, required=False
    )
    # Set by the page's "register as a new member anyway" when only the phone matched.
    new_despite_phone = forms.BooleanField(required=False, widget=forms.HiddenInput)
