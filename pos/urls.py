from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .clienteling import views as client_views

app_name = "pos"

urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="pos:login"), name="logout"),
    path("store/", views.switch_store, name="store"),
    path("scan/", views.scan, name="scan"),
    path("joined/", views.joined, name="joined"),
    path("register/", views.register, name="register"),
    path("m/<str:number>/", views.member_page, name="member"),
    path("m/<str:number>/sale/", views.sale, name="sale"),
    path("m/<str:number>/return/", views.sale_return, name="return"),
    path("m/<str:number>/voucher/", views.use_voucher, name="voucher"),
    path("m/<str:number>/reward/", views.redeem_reward, name="reward"),
    # Clienteling (pos/clienteling): search, the client book, appointments.
    path("clients/", client_views.clients, name="clients"),
    path("m/<str:number>/book/", client_views.client_book, name="client_book"),
    path("m/<str:number>/note/", client_views.note_add, name="client_note"),
    path("m/<str:number>/preferences/", client_views.profile_update, name="client_profile"),
    path("m/<str:number>/wish/", client_views.wish_add, name="client_wish"),
    path("m/<str:number>/wish/remove/", client_views.wish_remove, name="client_wish_remove"),
    path("m/<str:number>/appointment/", client_views.appointment_book, name="appointment_book"),
    path("m/<str:number>/contact/", client_views.contact_log, name="client_contact"),
    path("outreach/", client_views.outreach, name="outreach"),
    path(
        "m/<str:number>/redemption/<int:pk>/",
        client_views.redemption_status,
        name="redemption_status",
    ),
    path("day/", client_views.day, name="day"),
    path(
        "appointment/<int:pk>/cancel/", client_views.appointment_cancel, name="appointment_cancel"
    ),
]
