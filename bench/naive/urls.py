from django.urls import include, path

from naive.views import NaiveEarnView

# Under /api/v1/ so it goes through the same WSGI stack as Carat's sale (loyalty/wsgi.py).
urlpatterns = [
    path("api/v1/naive-earn/", NaiveEarnView.as_view()),
    path("", include("loyalty.urls")),
]
