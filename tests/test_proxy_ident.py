"""The API reads the client's address as the login throttles do: a forged
X-Forwarded-For names no one unless trusted proxies are configured."""

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory

from loyalty.kernel.security import client_ip
from pos.api_auth import ApiKeyRateThrottle


def _ident(xff: str, remote: str = "203.0.113.9") -> str:
    request = APIRequestFactory().get(
        "/api/v1/tiers/", HTTP_X_FORWARDED_FOR=xff, REMOTE_ADDR=remote
    )
    return ApiKeyRateThrottle().get_ident(Request(request))


def test_a_forged_forwarded_for_does_not_change_the_api_client_address(settings):
    assert api_settings.NUM_PROXIES == settings.CARAT_TRUSTED_PROXIES == 0
    assert _ident("1.1.1.1") == _ident("2.2.2.2") == "203.0.113.9"


def test_behind_one_proxy_the_api_and_the_login_throttle_agree(settings):
    settings.CARAT_TRUSTED_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = APIRequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7", REMOTE_ADDR="10.0.0.1"
    )
    assert ApiKeyRateThrottle().get_ident(Request(request)) == "198.51.100.7"
    assert client_ip(request) == "198.51.100.7"
