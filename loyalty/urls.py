from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView

from pos.clienteling import account_views as wishlist_views
from pos.questionnaire import views as questionnaire_views


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    # First: the API serves most requests (every sale and scan), and everything in it
    # starts with api/, which the other entries would be tried against before.
    path("", include("pos.api_urls")),
    path("", RedirectView.as_view(pattern_name="members:home", permanent=False)),
    path("healthz", healthz),
    path(settings.ADMIN_PATH, admin.site.urls),
    # The member's wishlist (pos.clienteling), next to the account pages it belongs to.
    path("account/wishlist/", wishlist_views.wishlist, name="account_wishlist"),
    path("account/confirm/", wishlist_views.confirm_poll, name="account_confirm"),
    path("account/confirm/<int:pk>/", wishlist_views.confirm_decide, name="account_confirm_decide"),
    # The thank-you questionnaire (pos.questionnaire): a signed link, no login.
    path(
        "account/questionnaire/<str:token>/",
        questionnaire_views.questionnaire,
        name="questionnaire",
    ),
    path("account/", include("members.urls")),
    path("wallet/", include("members.wallet.urls")),
    path("pos/", include("pos.urls")),
    path("m/", include("campaigns.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
