"""The POS scan page for shop assistants: scan a member, see the discount to apply, record
a sale or a return, register a new member at the counter.

Thin views over the services. Every write is a POST that redirects to a GET showing the
stored result (POST-redirect-GET), so a browser refresh never records twice; the receipt
number (and the return number) are the idempotency keys, so a double submit is answered
with the first result. A shop assistant only ever acts for one of their own stores."""

import base64
import re
import secrets
from functools import wraps
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Reward
from campaigns.selectors import pending_carats_for
from campaigns.services import (
    challenges_for_member,
    member_enroll,
    reward_redeem,
    rewards_for_member,
    voucher_by_code,
    voucher_use,
)
from loyalty.kernel.errors import DomainError, NotFound
from members.models import Member
from members.qr import qr_svg
from members.selectors import member_by_code, member_by_number, member_duplicates
from members.services import member_invite
from tiers.models import Tier
from tiers.selectors import member_progress

from .clienteling.models import StoreClient
from .clienteling.sale_help import carats_parts
from .clienteling.services import store_client_add
from .forms import RegisterForm, ReturnForm, SaleForm, ScanForm, StoreForm
from .models import Channel, ExchangeRate, Purchase, Return, Store
from .selectors import JOINED_MINUTES, counter_joins_recent, stores_for_user
from .services import purchase_record, return_record
from .services.counter_join import join_token

SESSION_STORE = "pos_store"
CLIENT = "pos page"
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


# --- access -------------------------------------------------------------------------------


def _forbidden(request, message: str, *, stores=()):
    return render(request, "pos/403.html", {"message": message, "stores": list(stores)}, status=403)


def _current_store(request, stores: list[Store]) -> Store:
    """The store kept in the session, if it is still one of the user's; else the first."""
    code = request.session.get(SESSION_STORE)
    store = next((s for s in stores if s.code == code), stores[0])
    if code != store.code:
        request.session[SESSION_STORE] = store.code
    return store


def pos_staff_required(view):
    """Logged in (on the POS login page) and shop assistant of at least one open store.
    Sets request.pos_stores and request.pos_store (the store the till works for)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        stores = stores_for_user(request.user)
        if not stores:
            return _forbidden(
                request,
                _(
                    "Your login is not a shop assistant of an open store. "
                    "Ask the marketing team to add you to your store's staff."
                ),
            )
        request.pos_stores = stores
        request.pos_store = _current_store(request, stores)
        # Dates and times on the page are the store's local time.
        with timezone.override(_store_zone(request.pos_store)):
            return view(request, *args, **kwargs)

    return never_cache(login_required(wrapper, login_url="pos:login"))


def _posted_store(request) -> Store | None:
    """The store a form was filled in for: it must be one of the user's own stores."""
    code = (request.POST.get("store") or "").strip()
    return next((s for s in request.pos_stores if s.code == code), None)


def _not_your_store(request):
    return _forbidden(
        request,
        _("This store is not one of your stores: nothing was recorded."),
        stores=request.pos_stores,
    )


# --- what the page shows ------------------------------------------------------------------


def _currencies(store: Store) -> list[str]:
    known = set(ExchangeRate.objects.values_list("currency", flat=True).distinct())
    return sorted(known | {"EUR", store.currency})


def _store_zone(store: Store):
    try:
        return ZoneInfo(store.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def _tier_colors(color: str) -> tuple[str, str]:
    """The tier's colour as background and a text colour that keeps the badge readable."""
    if not _HEX_COLOR.match(color or ""):
        color = "#8a8a8a"
    hex_ = color[1:]
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)

    def channel(i):
        c = int(hex_[i : i + 2], 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    # Contrast with white is 1.05 / (L + 0.05), with near-black (L about 0) (L + 0.05) / 0.05.
    text = "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#111111"
    return color, text


def _member_context(member: Member, store: Store) -> dict:
    # member_progress gives the member's own tier, also a hidden one (the till must apply
    # its discount), and only ever a public tier as the next step.
    progress = member_progress(member)
    local_today = timezone.localtime(timezone.now(), _store_zone(store)).date()
    birthday = member.birth_date
    tier_bg, tier_fg = _tier_colors(progress.tier.color)
    recent = (
        Purchase.objects.filter(member=member, store=store)
        .annotate(returned=Sum("returns__amount"))
        .order_by("-occurred_at", "-pk")[:5]
    )
    return {
        "member": member,
        "progress": progress,
        "tier": progress.tier,
        "tier_bg": tier_bg,
        "tier_fg": tier_fg,
        "birthday_this_month": bool(birthday and birthday.month == local_today.month),
        "birthday_today": bool(
            birthday and (birthday.month, birthday.day) == (local_today.month, local_today.day)
        ),
        "recent": recent,
        # Earned but not on the balance yet (return window, or held for review).
        "pending": pending_carats_for(member),
        "challenges": challenges_for_member(member),
        "vouchers": member.vouchers.filter(
            status="issued", valid_until__gt=timezone.now()
        ).order_by("valid_until"),
        "rewards": [r for r in rewards_for_member(member) if r.cost_carats <= member.balance],
    }


def _sale_result(request, member: Member, pk: str | None) -> dict | None:
    if not (pk or "").isdigit():
        return None
    purchase = (
        Purchase.objects.filter(pk=pk, member=member, store__in=request.pos_stores)
        .select_related("store")
        .first()
    )
    if purchase is None:
        return None
    tier = Tier.objects.filter(code=purchase.tier_after).first()
    parts = carats_parts(purchase.earning_reason)
    return {
        "purchase": purchase,
        "tier": tier,
        "upgraded": purchase.tier_changed and tier is not None,
        # "+500 = 250 base + 250 Second sparkle", when the sale earned more than its base.
        "parts": parts if parts and len(parts) > 1 else None,
    }


def _return_result(request, member: Member, pk: str | None) -> dict | None:
    if not (pk or "").isdigit():
        return None
    ret = (
        Return.objects.filter(
            pk=pk, purchase__member=member, purchase__store__in=request.pos_stores
        )
        .select_related("purchase", "purchase__store")
        .first()
    )
    if ret is None:
        return None
    # Carats taken back: from the balance, and pending ones cancelled before they got there.
    return {"ret": ret, "taken_back": ret.carats_reversed + ret.carats_cancelled}


def _render_page(request, *, member=None, status=200, **parts):
    store = request.pos_store
    context = {
        "store": store,
        "stores": request.pos_stores,
        "scan_form": parts.get("scan_form") or ScanForm(),
        "register_form": parts.get("register_form")
        or RegisterForm(initial={"language": _page_language(request)}),
        "active": parts.get("active", ""),
        "page_error": parts.get("page_error", ""),
        "duplicates": parts.get("duplicates", ()),
        "phone_only": parts.get("phone_only", False),
    }
    if member is None:
        context.update(_join_context(request))
    if member is not None:
        context.update(_member_context(member, store))
        context["sale_form"] = parts.get("sale_form") or SaleForm(
            initial={"store": store.code, "currency": store.currency},
            currencies=_currencies(store),
        )
        if parts.get("focus_amount"):
            context["sale_form"].fields["amount"].widget.attrs["autofocus"] = True
            context["active"] = "sale"
        context["return_form"] = parts.get("return_form") or ReturnForm(
            initial={"store": store.code}
        )
        context.update(parts.get("results", {}))
    return render(request, "pos/page.html", context, status=status)


def _join_context(request) -> dict:
    """The store's join QR code (a signed link to the sign-up page naming this store and
    this shop assistant) and who joined here through it in the last minutes."""
    token = join_token(store=request.pos_store, associate=request.user)
    url = settings.CARAT_SITE_URL.rstrip("/") + reverse("members:join_at_store", args=[token])
    svg = base64.b64encode(qr_svg(url).encode()).decode()
    return {
        "join_url": url,
        "join_qr": f"data:image/svg+xml;base64,{svg}",
        "joined": counter_joins_recent(request.pos_store),
        "joined_minutes": JOINED_MINUTES,
    }


def _member_url(member: Member, **params) -> str:
    url = reverse("pos:member", args=[member.member_number])
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def _member_or_404_page(request, number: str):
    try:
        return member_by_number(number), None
    except NotFound as exc:
        return None, _render_page(request, page_error=exc.message, status=404)


# --- views ---------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "pos/login.html"
    next_page = "pos:index"


@require_GET
@pos_staff_required
def index(request):
    return _render_page(request)


@require_GET
@pos_staff_required
def joined(request):
    """The join panel alone (the QR code and who joined here lately), which the POS page
    fetches every few seconds: only the current store's members."""
    return render(request, "pos/_join.html", {"store": request.pos_store, **_join_context(request)})


@require_POST
@pos_staff_required
def switch_store(request):
    form = StoreForm(request.POST)
    store = _posted_store(request) if form.is_valid() else None
    if store is None:
        return _not_your_store(request)
    request.session[SESSION_STORE] = store.code
    return redirect("pos:index")


@require_POST
@pos_staff_required
def scan(request):
    form = ScanForm(request.POST)
    if form.is_valid():
        try:
            member = member_by_code(form.cleaned_data["code"])
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            # A client scanned for a sale joins the store's client book (who sees what).
            store_client_add(
                store=request.pos_store, member=member, reason=StoreClient.Reason.SCANNED
            )
            # The QR payload never goes into a URL (history, logs): the member number does.
            return HttpResponseRedirect(_member_url(member))
    return _render_page(request, scan_form=form, status=_error_status(form))


@require_GET
@pos_staff_required
def member_page(request, number):
    member, error_page = _member_or_404_page(request, number)
    if error_page:
        return error_page
    results = {
        "sale": _sale_result(request, member, request.GET.get("sale")),
        "ret": _return_result(request, member, request.GET.get("return")),
        "again": request.GET.get("again") == "1",
        "used_voucher": member.vouchers.filter(
            code=request.GET.get("voucher", ""), status="used"
        ).first(),
        "issued_voucher": member.vouchers.filter(code=request.GET.get("issued", "")).first(),
        "registered": request.GET.get("new") == "1",
    }
    parts = {}
    receipt = (request.GET.get("return_of") or "").strip()[:64]
    if receipt:
        # One tap from a recent sale to its return: the form opened with the receipt.
        parts["return_form"] = ReturnForm(
            initial={"store": request.pos_store.code, "receipt_id": receipt}
        )
        parts["return_form"].fields["return_id"].widget.attrs["autofocus"] = True
        parts["active"] = "return"
    elif not any(results.values()):
        # Just scanned: the cursor waits in Amount (Enter goes on to Receipt, then records).
        parts["focus_amount"] = True
    return _render_page(request, member=member, results=results, **parts)


@require_POST
@pos_staff_required
def sale(request, number):
    member, error_page = _member_or_404_page(request, number)
    if error_page:
        return error_page
    store = _posted_store(request)
    if store is None:
        return _not_your_store(request)
    form = SaleForm(request.POST, currencies=_currencies(store))
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = purchase_record(
                member=member,
                channel=Channel.STORE,
                store=store,
                receipt_id=data["receipt_id"],
                amount=data["amount"],
                currency=data["currency"],
                lines=data["lines"],
                actor=request.user,
                client=CLIENT,
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return HttpResponseRedirect(
                _member_url(member, sale=result.purchase.pk, again="" if result.created else 1)
            )
    return _render_page(
        request, member=member, sale_form=form, active="sale", status=_error_status(form)
    )


@require_POST
@pos_staff_required
def sale_return(request, number):
    member, error_page = _member_or_404_page(request, number)
    if error_page:
        return error_page
    store = _posted_store(request)
    if store is None:
        return _not_your_store(request)
    form = ReturnForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = return_record(
                channel=Channel.STORE,
                store=store,
                receipt_id=data["receipt_id"],
                return_id=data["return_id"],
                amount=data["amount"],
                actor=request.user,
                member=member,
            )
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return HttpResponseRedirect(
                _member_url(
                    member, **{"return": result.ret.pk, "again": "" if result.created else 1}
                )
            )
    return _render_page(
        request, member=member, return_form=form, active="return", status=_error_status(form)
    )


@require_POST
@pos_staff_required
def register(request):
    form = RegisterForm(request.POST)
    duplicates = []
    if form.is_valid():
        data = form.cleaned_data
        # The client may be a member already (same e-mail, or same phone): show them and
        # offer to use that account. A shared phone (a couple) may still register anew.
        duplicates = member_duplicates(email=data["email"], phone=data["phone"])
        same_email = any(m.email == data["email"].lower() for m in duplicates)
        if same_email or (duplicates and not data["new_despite_phone"]):
            return _render_page(
                request,
                register_form=form,
                active="register",
                duplicates=duplicates,
                phone_only=not same_email,
                status=409,
            )
        try:
            with transaction.atomic():
                member = member_enroll(
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    phone=data["phone"],
                    language=data["language"] or _page_language(request),
                    source=Member.Source.STORE,
                )
                store_client_add(
                    store=request.pos_store, member=member, reason=StoreClient.Reason.REGISTERED
                )
                # The invitation to set a password is e-mailed after commit.
                member_invite(member=member)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return HttpResponseRedirect(_member_url(member, new=1))
    return _render_page(request, register_form=form, active="register", status=_error_status(form))


def _page_language(request) -> str:
    """The page's language if the program speaks it (e.g. nl in a Flemish store)."""
    code = (getattr(request, "LANGUAGE_CODE", "") or "").split("-")[0]
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGES[0][0]


def _error_status(form) -> int:
    """400 for a form error; the DomainError's own status (404, 409) when a service said no."""
    if not form.errors:
        return 200
    return getattr(form, "error_status", 400)


@require_POST
@pos_staff_required
def use_voucher(request, number):
    """Accept a voucher of the scanned member at this store: once, while valid."""
    member, error_page = _member_or_404_page(request, number)
    if error_page:
        return error_page
    store = _posted_store(request)
    if store is None:
        return _not_your_store(request)
    code = (request.POST.get("code") or "").strip().upper()
    try:
        voucher = voucher_by_code(code)
        if voucher.member_id != member.pk:
            raise DomainError(_("This voucher belongs to another member."), code="not_this_member")
        voucher = voucher_use(code=code, where=store.code, actor=request.user)
    except DomainError as exc:
        return _render_page(request, member=member, page_error=exc.message, status=exc.status)
    return HttpResponseRedirect(_member_url(member, voucher=voucher.code))


def _confirm_redemption(request, member, reward):
    """The redemption's confirmation: no carats move until the associate confirms."""
    if not any(r.pk == reward.pk for r in rewards_for_member(member)):
        raise NotFound(_("This reward is not available to this member."), field="reward")
    after = member.balance - reward.cost_carats
    if after < 0:
        raise DomainError(
            _("Not enough carats: %(name)s costs %(cost)s, the balance is %(balance)s.")
            % {"name": reward.name, "cost": reward.cost_carats, "balance": member.balance},
            code="insufficient_balance",
        )
    from .clienteling import confirm as phone
    from .clienteling.sale_help import confirmation

    once = request.POST.get("once") or secrets.token_urlsafe(12)
    results = {"confirm": confirmation(reward, member, once)}
    if phone.account_is_open(member) and request.POST.get("here") != "1":
        results["phone_request"] = phone.request_create(
            member=member, reward=reward, store=request.pos_store, actor=request.user, once=once
        )
    return _render_page(request, member=member, results=results)


@require_POST
@pos_staff_required
def redeem_reward(request, number):
    """Redeem a reward for the member at the counter (it issues a voucher)."""
    member, error_page = _member_or_404_page(request, number)
    if error_page:
        return error_page
    if _posted_store(request) is None:
        return _not_your_store(request)
    reward = (
        Reward.objects.filter(pk=request.POST.get("reward") or 0).first()
        if (request.POST.get("reward") or "").isdigit()
        else None
    )
    try:
        if reward is None:
            raise DomainError(_("Choose a reward."), field="reward")
        if request.POST.get("confirm") != "1":
            # Spending carats is confirmed first, with what it costs and what is left:
            # on the client's phone when their account page is open, else here.
            return _confirm_redemption(request, member, reward)
        redemption = reward_redeem(
            member=member,
            reward=reward,
            actor=request.user,
            request_key=f"pos:{request.POST.get('once', '')}" if request.POST.get("once") else None,
        )
    except DomainError as exc:
        return _render_page(request, member=member, page_error=exc.message, status=exc.status)
    return HttpResponseRedirect(_member_url(member, issued=redemption.voucher.code))
