"""The schema states the rules the API enforces, so a generated client can check them
before sending: the cases schemathesis found where the two disagreed, pinned."""

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from pos.serializers import base
from pos.services import api_key_create
from tests.factories import StoreFactory, make_program
from tests.test_api import client_for


@pytest.fixture(scope="module")
def spec():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_request_body_refuses_unknown_keys_in_the_schema_too(spec):
    """The API refuses a key it does not know (a misspelt field is a 400), and the
    schema says so: additionalProperties false on every request body."""
    bodies = {
        name: component
        for name, component in spec["components"]["schemas"].items()
        if name.endswith("Request")
    }
    assert bodies
    for name, component in bodies.items():
        assert component.get("additionalProperties") is False, name


def _accepts(field, value) -> bool:
    try:
        field.run_validation(value)
    except serializers.ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "value",
    [
        "1",
        "0.01",
        "0.5",
        "007.50",
        "129.90",
        "9999999999.99",
        "0",
        "0.00",
        "00",
        "1.234",
        " 5",
        "5 ",
        "1e3",
        "-1",
        "+1",
        ".5",
        "5.",
        "10000000000",
        "\u0661\u0662",
        "1,5",
    ],
)
def test_the_amount_pattern_is_exactly_what_the_api_takes(spec, value):
    pattern = spec["components"]["schemas"]["PurchaseRequest"]["properties"]["amount"]["pattern"]
    assert bool(re.search(pattern, value)) == _accepts(base.MoneyField(), value), value


@pytest.mark.parametrize(
    "value",
    [
        "ann@example.com",
        "a.b+c@mail.example.be",
        "x_y@a-b.example",
        "ann@example",
        "ann..b@example.com",
        "ann@-example.com",
        '"ann"@example.com',
        "ann@[127.0.0.1]",
        "ann@example.c",
        "ann@exa_mple.com",
    ],
)
def test_the_email_pattern_is_what_the_api_takes(spec, value):
    """Anything the schema's pattern allows, the API takes; anything else it refuses (the
    RFC "email" format is not claimed: it allows what Django refuses and the reverse)."""
    email = spec["components"]["schemas"]["MemberCreateRequest"]["properties"]["email"]
    assert "format" not in email
    assert bool(re.search(email["pattern"], value)) == _accepts(base.EmailAddressField(), value)


@pytest.fixture
def shop(db):
    make_program()
    StoreFactory(code="antwerp", currency="EUR")
    _key, plain = api_key_create(name="web shop")
    return client_for(plain)


@pytest.mark.parametrize(
    ("field", "value"),
    [("referral_code", 0), ("sms_opt_in", 0), ("email_opt_in", "yes"), ("first_name", 12)],
)
def test_a_value_of_another_json_type_is_refused(shop, field, value):
    """DRF would read 0 as "0" or as false; the schema says string or boolean, so does
    the API."""
    body = {"email": "ann@example.com", field: value}
    response = shop.post("/api/v1/members/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "drf"])
def test_a_sale_s_member_sent_as_a_number_is_refused_on_both_paths(shop, lean):
    body = {
        "member": 4477127825,
        "store": "antwerp",
        "receipt_id": "R-1",
        "amount": "10.00",
        "currency": "EUR",
    }
    # The lean dispatch takes a plain JSON POST; a query string sends it through DRF's.
    path = "/api/v1/purchases/" + ("" if lean else "?via=drf")
    response = shop.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "member" in response.json()["error"]["fields"]
