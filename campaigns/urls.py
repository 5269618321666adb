from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("u/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
]
