"""The member's own wishlist on the account pages (/account/wishlist/). It lives with the
client book (pos.clienteling) because members, a lower app, cannot know the wishlist;
loyalty/urls.py mounts it next to the account pages. The member sees and edits only
their own list; the associates' notes and preferences are never shown here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from loyalty.kernel.errors import DomainError
from members.models import Member

from .forms import WishForm
from .models import WishlistItem
from .services import wishlist_add, wishlist_remove


@never_cache
@login_required(login_url="members:login")
def wishlist(request):
    member = Member.objects.filter(user=request.user, erased_at__isnull=True).first()
    if member is None:
        return render(request, "members/no_membership.html", status=403)
    form = WishForm()
    status = 200
    if request.method == "POST":
        if request.POST.get("remove", "").isdigit():
            wishlist_remove(member=member, item_id=int(request.POST["remove"]))
            return redirect("account_wishlist")
        form = WishForm(request.POST)
        if form.is_valid():
            try:
                wishlist_add(
                    member=member,
                    description=form.cleaned_data["description"],
                    sku=form.cleaned_data["sku"],
                    source=WishlistItem.Source.ACCOUNT,
                )
            except DomainError as exc:
                form.add_domain_error(exc)
            else:
                messages.success(request, _("Added to your wishlist."))
                return redirect("account_wishlist")
        status = getattr(form, "error_status", 400)
    items = WishlistItem.objects.filter(member=member, removed_at__isnull=True).order_by(
        "-created_at", "-pk"
    )
    return render(
        request,
        "members/wishlist.html",
        {"member": member, "items": items, "form": form},
        status=status,
    )


# --- a redemption confirmed on the member's phone (pos.clienteling.confirm) ---------------


@never_cache
@login_required(login_url="members:login")
def confirm_poll(request):
    """Asked every few seconds by the open account page: marks it open, and tells what
    waits for the member's confirmation (JSON)."""
    from django.http import JsonResponse

    from .confirm import account_open_mark, pending_for

    member = Member.objects.filter(user=request.user, erased_at__isnull=True).first()
    if member is None:
        return JsonResponse({"error": "no membership"}, status=403)
    account_open_mark(member)
    req = pending_for(member)
    if req is None:
        return JsonResponse({"pending": None})
    return JsonResponse(
        {
            "pending": {
                "id": req.pk,
                "title": _("%(store)s asks you to confirm") % {"store": req.store.name},
                "text": _("Redeem %(reward)s for %(cost)s carats? Your balance after: %(after)s.")
                % {
                    "reward": req.reward.name,
                    "cost": req.reward.cost_carats,
                    "after": member.balance - req.reward.cost_carats,
                },
                "yes": _("Confirm"),
                "no": _("Decline"),
            }
        }
    )


@login_required(login_url="members:login")
def confirm_decide(request, pk):
    from django.views.decorators.http import require_POST

    from .confirm import request_decide

    @require_POST
    def inner(request):
        member = Member.objects.filter(user=request.user, erased_at__isnull=True).first()
        if member is None:
            return render(request, "members/no_membership.html", status=403)
        try:
            req = request_decide(
                member=member, request_id=pk, accept=request.POST.get("answer") == "yes"
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            if req.status == req.Status.CONFIRMED:
                messages.success(request, _("Confirmed: your voucher is ready at the till."))
            else:
                messages.info(request, _("Declined: nothing was spent."))
        return redirect("members:home")

    return inner(request)
