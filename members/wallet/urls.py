"""Apple's pass web service (webServiceURL = CARAT_WALLET_WEB_SERVICE_URL, which ends in
/wallet/apple). The converters bound every identifier: a device library id, a pass type
id and a serial are short strings of known characters; anything else is a 404."""

from django.urls import path, register_converter

from . import views


class _Bounded:
    regex = ""

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class DeviceId(_Bounded):
    regex = r"[A-Za-z0-9._-]{1,64}"


class PassType(_Bounded):
    regex = r"[A-Za-z0-9.-]{1,128}"


class Serial(_Bounded):
    regex = r"[A-Za-z0-9]{1,32}"


register_converter(DeviceId, "device")
register_converter(PassType, "passtype")
register_converter(Serial, "serial")

app_name = "wallet"

urlpatterns = [
    path(
        "apple/v1/devices/<device:device_id>/registrations/<passtype:pass_type>/<serial:serial>",
        views.registration,
        name="apple_registration",
    ),
    path(
        "apple/v1/devices/<device:device_id>/registrations/<passtype:pass_type>",
        views.serials,
        name="apple_serials",
    ),
    path(
        "apple/v1/passes/<passtype:pass_type>/<serial:serial>",
        views.latest_pass,
        name="apple_latest_pass",
    ),
    path("apple/v1/log", views.device_log, name="apple_log"),
]
