"""The brand of the member pages comes from one place: the program's settings."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.models import Program
from loyalty.kernel import config


def test_the_pages_wear_the_programs_name_colours_and_logo(client, program):
    Program.objects.update(name="Club Solitaire", accent_color="#aa8844", typography="sans")
    config._store.clear()
    page = client.get(reverse("members:login")).content.decode()
    assert "<title>" in page and "Club Solitaire" in page
    assert "--gold: #aa8844" in page
    assert 'class="type-sans"' in page
    assert "brand/diamond-club.svg" in page and "brand/favicon.svg" in page
    assert "Log in to your Club Solitaire card" in page
    client.cookies["django_language"] = "fr"
    page = client.get(reverse("members:signup")).content.decode()
    assert "Rejoignez le Club Solitaire" in page


@pytest.mark.parametrize("value", ["red", "#12345", "#123456; } body { display: none", "#zzzzzz"])
def test_a_colour_is_a_colour_and_nothing_else(program, value):
    prog = Program.objects.get()
    prog.accent_color = value
    with pytest.raises(ValidationError) as refused:
        prog.full_clean()
    assert "accent_color" in refused.value.message_dict


def test_the_logo_is_a_file_the_site_ships(program):
    prog = Program.objects.get()
    prog.logo = "brand/nope.svg"
    with pytest.raises(ValidationError) as refused:
        prog.full_clean()
    assert "logo" in refused.value.message_dict
    prog.logo = "brand/diamond-club.svg"
    prog.full_clean()
