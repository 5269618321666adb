"""The client search, the client book and the appointments on the POS page.

Thin views over pos.clienteling.services/selectors, POST-redirect-GET as the rest of the
page. Who sees what: a store's staff see the clients of their stores (registered there,
bought there, or scanned there for a sale: pos.clienteling.selectors.client_scope); a
client outside that scope answers 404, as a member who does not exist would."""

from datetime import datetime
from functools import wraps

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from loyalty.kernel.errors import DomainError, NotFound
from members.selectors import CLIENT_SEARCH_MIN, member_by_number

from ..views import _not_your_store, _posted_store, _store_zone, pos_staff_required
from . import outreach as outreach_mod
from . import selectors, services
from .forms import AppointmentForm, ContactForm, NoteForm, ProfileForm, WishForm
from .models import Appointment, WishlistItem


def _client_or_404(request, number):
    """The member behind the number, if they are a client of the user's stores."""
    try:
        member = member_by_number(number)
    except NotFound:
        member = None
    if member is None or not selectors.client_visible(member, request.pos_stores):
        return None
    return member


def _not_a_client(request):
    return render(
        request,
        "pos/clienteling/not_found.html",
        {"store": request.pos_store, "stores": request.pos_stores},
        status=404,
    )


def client_view(view):
    """Staff of the client's stores only: the view gets the member, or the page answers
    404 as for a member who does not exist."""

    @wraps(view)
    @pos_staff_required
    def wrapped(request, number, *args, **kwargs):
        member = _client_or_404(request, number)
        if member is None:
            return _not_a_client(request)
        return view(request, member, *args, **kwargs)

    return wrapped


def _book_post(request, member, form, *, write, saved, anchor, slot):
    """One form of the client book posted: a valid form is written by ``write`` (a
    service call with the cleaned data) and the book reopens at its section; a refusal of
    the form or of the service shows the book again with the form's messages."""
    if form.is_valid():
        try:
            write(form.cleaned_data)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            return HttpResponseRedirect(_book_url(member, saved=saved) + anchor)
    return _render_book(request, member, _status(form), **{f"{slot}_form": form, "active": slot})


@require_GET
@pos_staff_required
def clients(request):
    query = (request.GET.get("q") or "").strip()[:80]
    results = selectors.clients_find(query, request.pos_stores) if query else []
    return render(
        request,
        "pos/clienteling/clients.html",
        {
            "store": request.pos_store,
            "stores": request.pos_stores,
            "query": query,
            "results": results,
            "too_short": bool(query) and len(query) < CLIENT_SEARCH_MIN,
        },
    )


def _book_context(request, member, **forms):
    store = request.pos_store
    associates = selectors.store_associates(store)
    book = selectors.client_book(member, store=store)
    profile = book.profile
    initial = {}
    if profile is not None:
        initial = {f: getattr(profile, f) for f in services.PROFILE_FIELDS}
        initial["associate"] = profile.associate_id
    return {
        "store": store,
        "stores": request.pos_stores,
        "member": member,
        "book": book,
        "note_form": forms.get("note_form") or NoteForm(),
        "profile_form": forms.get("profile_form")
        or ProfileForm(initial=initial, associates=associates),
        "wish_form": forms.get("wish_form") or WishForm(),
        "appointment_form": forms.get("appointment_form")
        or AppointmentForm(
            initial={
                "associate": request.user.pk,
                "minutes": 60,
                "day": timezone.localdate(),
                "time": "10:00",
            },
            associates=associates,
        ),
        "active": forms.get("active", ""),
        "saved": request.GET.get("saved", ""),
        "contact_form": forms.get("contact_form") or _contact_form(request, member),
        "contacts": outreach_mod.recent_contacts(member),
        "templates": list(outreach_mod.TEMPLATES),
    }


def _contact_form(request, member):
    """The contact form, its e-mail started from the template asked for (?template=), in
    the client's language."""
    key = request.GET.get("template", "")
    subject, body = outreach_mod.template_texts(key, member)
    channel = "email" if member.email_opt_in else "call"
    return ContactForm(
        initial={"channel": channel, "subject": subject, "body": body, "reason": key[:24]}
    )


def _is_manager(user) -> bool:
    from loyalty.kernel.roles import STORE_MANAGER

    return user.groups.filter(name=STORE_MANAGER).exists()


@require_GET
@pos_staff_required
def outreach(request):
    manager = _is_manager(request.user)
    return render(
        request,
        "pos/clienteling/outreach.html",
        {
            "store": request.pos_store,
            "stores": request.pos_stores,
            "outreach": outreach_mod.outreach_for(request.pos_store, request.user, manager=manager),
            "window": outreach_mod.WINDOW_DAYS,
        },
    )


@require_POST
@client_view
def contact_log(request, member):
    def write(data):
        outreach_mod.contact_log(
            member=member,
            store=request.pos_store,
            associate=request.user,
            channel=data["channel"],
            reason=data["reason"],
            note=data["note"],
            subject=data["subject"],
            body=data["body"],
        )

    form = ContactForm(request.POST)
    return _book_post(
        request, member, form, write=write, saved="contact", anchor="#contact", slot="contact"
    )


def _book_url(member, **params):
    url = reverse("pos:client_book", args=[member.member_number])
    if params:
        from django.utils.http import urlencode

        url += "?" + urlencode(params)
    return url


@require_GET
@client_view
def client_book(request, member):
    return render(request, "pos/clienteling/book.html", _book_context(request, member))


def _render_book(request, member, status, **forms):
    return render(
        request, "pos/clienteling/book.html", _book_context(request, member, **forms), status=status
    )


def _status(form):
    return getattr(form, "error_status", 400) if form.errors else 200


@require_POST
@client_view
def note_add(request, member):
    def write(data):
        services.client_note_add(
            member=member,
            store=request.pos_store,
            author=request.user,
            text=data["text"],
            follow_up_on=data["follow_up_on"],
        )

    form = NoteForm(request.POST)
    return _book_post(
        request, member, form, write=write, saved="note", anchor="#notes", slot="note"
    )


@require_POST
@client_view
def profile_update(request, member):
    associates = selectors.store_associates(request.pos_store)

    def write(cleaned):
        data = dict(cleaned)
        associate_id = data.pop("associate")
        data["associate"] = next((u for u in associates if u.pk == associate_id), None)
        if associate_id is None:
            # Keep a client's associate from another store unless one is chosen here.
            data.pop("associate")
        services.client_profile_update(member=member, actor=request.user, **data)

    form = ProfileForm(request.POST, associates=associates)
    return _book_post(
        request, member, form, write=write, saved="profile", anchor="#preferences", slot="profile"
    )


@require_POST
@client_view
def wish_add(request, member):
    def write(data):
        services.wishlist_add(
            member=member,
            description=data["description"],
            sku=data["sku"],
            source=WishlistItem.Source.COUNTER,
            actor=request.user,
            store=request.pos_store,
        )

    form = WishForm(request.POST)
    return _book_post(
        request, member, form, write=write, saved="wish", anchor="#wishlist", slot="wish"
    )


@require_POST
@client_view
def wish_remove(request, member):
    item = request.POST.get("item") or ""
    if item.isdigit():
        services.wishlist_remove(member=member, item_id=int(item))
    return HttpResponseRedirect(_book_url(member) + "#wishlist")


# --- appointments --------------------------------------------------------------------------


@require_POST
@client_view
def appointment_book(request, member):
    store = _posted_store(request)
    if store is None:
        return _not_your_store(request)
    associates = selectors.store_associates(store)
    form = AppointmentForm(request.POST, associates=associates)
    if form.is_valid():
        data = form.cleaned_data
        associate = next((u for u in associates if u.pk == data["associate"]), None)
        starts_at = datetime.combine(data["day"], data["time"], tzinfo=_store_zone(store))
        try:
            if associate is None:
                raise DomainError(_("Choose an associate of this store."), field="associate")
            appointment = services.appointment_book(
                store=store,
                member=member,
                associate=associate,
                starts_at=starts_at,
                minutes=data["minutes"],
                purpose=data["purpose"],
                note=data["note"],
                actor=request.user,
            )
        except DomainError as exc:
            if exc.field == "starts_at":
                exc.field = "time"
            form.add_domain_error(exc)
        else:
            day = timezone.localtime(appointment.starts_at, _store_zone(store)).date()
            return HttpResponseRedirect(
                reverse("pos:day") + f"?date={day.isoformat()}&booked={appointment.pk}"
            )
    return _render_book(request, member, _status(form), appointment_form=form, active="appointment")


@require_GET
@pos_staff_required
def day(request):
    store = request.pos_store
    zone = _store_zone(store)
    today = timezone.localtime(timezone.now(), zone).date()
    try:
        chosen = parse_date((request.GET.get("date") or "")[:10]) or today
    except ValueError:  # well formed but no such day
        chosen = today
    if abs((chosen - today).days) > 3660:  # the diary spans years, not millennia
        chosen = today
    from datetime import timedelta

    return render(
        request,
        "pos/clienteling/day.html",
        {
            "store": store,
            "stores": request.pos_stores,
            "day": chosen,
            "today": today,
            "previous": chosen - timedelta(days=1),
            "next": chosen + timedelta(days=1),
            "appointments": selectors.day_view(store, chosen, zone),
            "booked": request.GET.get("booked", ""),
        },
    )


@require_POST
@pos_staff_required
def appointment_cancel(request, pk):
    appointment = Appointment.objects.filter(pk=pk, store__in=request.pos_stores).first()
    if appointment is None:
        return _not_a_client(request)
    services.appointment_cancel(appointment=appointment, actor=request.user)
    day = timezone.localtime(appointment.starts_at, _store_zone(appointment.store)).date()
    return HttpResponseRedirect(reverse("pos:day") + f"?date={day.isoformat()}")


@require_GET
@pos_staff_required
def redemption_status(request, number, pk):
    """The till asks whether the client answered on their phone (JSON)."""
    from django.http import JsonResponse

    from .models import RedemptionRequest

    req = RedemptionRequest.objects.filter(
        pk=pk, member__member_number=number, store__in=request.pos_stores
    ).first()
    if req is None:
        return JsonResponse({"error": "not found"}, status=404)
    url = reverse("pos:member", args=[number])
    if req.status == RedemptionRequest.Status.CONFIRMED:
        url += f"?issued={req.voucher_code}"
    return JsonResponse({"status": req.status, "url": url})
