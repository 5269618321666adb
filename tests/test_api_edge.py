"""The API's edge made cheaper per request: content negotiation without parsing the usual
Accept headers, and the URL table under one prefix with the tills' calls first. Both
must behave as before."""

import pytest
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from loyalty.kernel import config
from pos import api_auth
from pos.services import api_key_create


@pytest.fixture(autouse=True)
def _fresh():
    config.clear()
    api_auth._valid_keys.clear()
    yield
    config.clear()
    api_auth._valid_keys.clear()


@pytest.fixture
def api(db):
    _key, plain = api_key_create(name="edge")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_the_usual_accept_headers_get_json(api, tiers, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.get("/api/v1/tiers/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert [t["code"] for t in response.json()][:3] == ["radiant", "marquise", "emerald"]


@pytest.mark.parametrize(
    "accept", ["text/html", "application/xml", "application/json; indent=4", "*/*;q=0.5"]
)
def test_other_accept_headers_are_negotiated_as_drf_does(api, tiers, accept):
    response = api.get("/api/v1/tiers/", HTTP_ACCEPT=accept)
    if accept in ("text/html", "application/xml"):
        assert response.status_code == 406
        assert response.json()["error"]["code"] == "not_acceptable"
    else:
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
    if "indent" in accept:
        assert response.content.startswith(b"[\n    {")  # DRF's indented JSON


def test_a_format_override_is_left_to_drf(api, tiers):
    assert api.get("/api/v1/tiers/?format=json").status_code == 200
    assert api.get("/api/v1/tiers/?format=xml").status_code == 404


def test_the_api_routes_keep_their_names_and_paths():
    expected = {
        "api:purchase-create": "/api/v1/purchases/",
        "api:member-lookup": "/api/v1/members/lookup/",
        "api:member-create": "/api/v1/members/",
        "api:tier-list": "/api/v1/tiers/",
        "api:schema": "/api/schema/",
    }
    for name, path in expected.items():
        assert reverse(name) == path
        assert resolve(path).view_name == name
    number = reverse("api:member-detail", args=["1234567890"])
    assert number == "/api/v1/members/1234567890/"
    assert resolve("/api/v1/members/lookup/").view_name == "api:member-lookup"  # not a number
    assert resolve("/account/").namespace == "members"  # the pages are still found


def test_an_unknown_api_path_is_a_json_404_and_pages_still_answer(api, client, db):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/").status_code == 302
