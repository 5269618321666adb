from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "pos"

urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="pos:login"), name="logout"),
    path("store/", views.switch_store, name="store"),
    path("scan/", views.scan, name="scan"),
    path("register/", views.register, name="register"),
    path("m/<str:number>/", views.member_page, name="member"),
    path("m/<str:number>/sale/", views.sale, name="sale"),
    path("m/<str:number>/return/", views.sale_return, name="return"),
    path("m/<str:number>/voucher/", views.use_voucher, name="voucher"),
    path("m/<str:number>/reward/", views.redeem_reward, name="reward"),
]
