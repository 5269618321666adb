from django.urls import path

from . import esp, views

app_name = "campaigns"

urlpatterns = [
    path("o/<str:token>.gif", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("u/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("esp/tracking/", esp.tracking_webhook, name="esp_tracking"),
]
