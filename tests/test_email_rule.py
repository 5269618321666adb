"""One e-mail rule at every door: invisible characters make a second account look like
the first one, and Django's validator lets some of them through."""

import pytest

from campaigns.services import member_enroll
from loyalty.kernel.errors import DomainError
from members.forms import SignupForm
from members.models import Member
from pos.services import api_key_create

INVISIBLE = ["ada@b.example\u200b", "ada\u200d@example.com", "ada@exam\u202eple.com"]


@pytest.mark.parametrize("email", INVISIBLE)
def test_enrolment_refuses_an_address_with_invisible_characters(program, email):
    with pytest.raises(DomainError) as exc:
        member_enroll(email=email, first_name="Ada", last_name="Lovelace")
    assert exc.value.field == "email"
    assert not Member.objects.exists()


@pytest.mark.parametrize("email", INVISIBLE)
def test_the_api_answers_400_and_creates_nothing(client, program, email):
    _key, plain = api_key_create(name="web shop", scope="integration")
    response = client.post(
        "/api/v1/members/",
        {"email": email, "first_name": "Ada", "last_name": "Lovelace"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {plain}",
    )
    assert response.status_code == 400
    assert not Member.objects.exists()


@pytest.mark.parametrize("email", INVISIBLE)
def test_the_signup_form_refuses_it(email):
    form = SignupForm(
        {"first_name": "Ada", "last_name": "L", "email": email, "password": "sparkle-2026!"}
    )
    assert not form.is_valid()
    assert "email" in form.errors


def test_a_plain_address_still_enrols(program):
    assert member_enroll(email="Ada@Example.com", first_name="Ada").email == "ada@example.com"
