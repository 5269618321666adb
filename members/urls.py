from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .wallet import views as wallet_views

app_name = "members"

urlpatterns = [
    path("", views.home, name="home"),
    path("join/", views.signup, name="signup"),
    path("join/here/<str:token>/", views.join_at_store, name="join_at_store"),
    path("news/confirm/<str:token>/", views.consent_confirm, name="consent_confirm"),
    path("verify/<uidb64>/<token>/", views.verify, name="verify"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("qr.svg", views.qr_code, name="qr"),
    path("qr/rotate/", views.rotate_qr, name="rotate_qr"),
    path("wallet/diamond-club.pkpass", wallet_views.apple_pass, name="wallet_apple"),
    path("wallet/google/", wallet_views.google_pass, name="wallet_google"),
    path("history/", views.history, name="history"),
    path("profile/", views.profile, name="profile"),
    path("language/", views.language, name="language"),
    path("rewards/", views.rewards, name="rewards"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/export.json", views.export, name="export"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
    path("rewards/<int:reward_id>/redeem/", views.redeem, name="redeem"),
    path("clubs/<int:club_id>/join/", views.join_club, name="join_club"),
    path("vouchers/<str:code>.svg", views.voucher_qr, name="voucher_qr"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="members/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/set/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
]
