"""Staff-written mail texts render in a sandbox; only staff links are tracked; signed mail
links expire; the unsubscribe page shows no address; mail contents are right (basket
items, the gift in the subject, the tier deadline)."""

import csv
import io
import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns import mailtext
from campaigns.models import (
    Broadcast,
    MailTexts,
    MailVariant,
    MessageLog,
    Segment,
    TriggerConfig,
)
from campaigns.services import messages_dispatch, triggers_select
from campaigns.services.crm import broadcast_render, render_message, unsubscribe_token
from loyalty.kernel import csvexport
from loyalty.management.demo_data import TRIGGERS
from members.models import Member
from tests.factories import UserFactory
from tiers.models import MemberTier

BRU = ZoneInfo("Europe/Brussels")
SECRET = "pbkdf2_sha256$870000$saltsalt$THIS-IS-THE-HASH"

# What a marketer (or someone who took over their login) might type to read more than
# the documented variables: attribute traversal, tags that load or include, filters.
# (two payloads: a subject holds 200 characters)
HOSTILE = [
    (
        "[{{ member.user.password }}|{{member.email}}|{{ balance.__class__ }}"
        "|{{ first_name|upper }}|{{ tier.threshold }}|{{ first_name }}]",
        # all that may be left: the one documented variable, the rest renders as nothing
        "[|||||Zoé]",
    ),
    (
        "[{% load static %}|{% include 'base.html' %}|{% debug %}|{# x #}"
        "|{% for c in challenges %}{{ c.member.user }}{% endfor %}|{{ balance }}]",
        "[|||||0]",
    ),
]


def mail_text_fields():
    """Every model field that holds a staff-written subject or body."""
    found = []
    for model in apps.get_models():
        if issubclass(model, MailTexts):
            for field in model._meta.get_fields():
                if getattr(field, "name", "").startswith(("subject_", "body_")):
                    found.append((model, field))
    return found


@pytest.fixture
def zoe(enroll):
    m = enroll(first_name="Zoé", last_name="Lambert", email_opt_in=True, language="en")
    user = UserFactory(email="zoe.login@example.com")
    user.password = SECRET
    user.save(update_fields=["password"])
    Member.objects.filter(pk=m.pk).update(user=user)
    m.refresh_from_db()
    return m


def _texts_payload(field_name, payload):
    fields = {f: "x" for f in MailTexts.TEXT_FIELDS if f.endswith("_en")}
    # A language's subject counts only with that language's body (one language per mail).
    fields["body_" + field_name.rsplit("_", 1)[1]] = "x"
    fields[field_name] = payload
    return fields


@pytest.mark.parametrize("payload, rendered", HOSTILE)
def test_every_mail_text_field_renders_only_the_documented_variables(zoe, payload, rendered):
    fields = mail_text_fields()
    assert {(m.__name__, f.name) for m, f in fields} == {
        (model, name)
        for model in ("TriggerConfig", "Broadcast", "MailVariant")
        for name in MailTexts.TEXT_FIELDS
    }
    segment = Segment.objects.create(name="everyone")
    for model, field in fields:
        language = field.name.rsplit("_", 1)[1]
        Member.objects.filter(pk=zoe.pk).update(language=language)
        zoe.refresh_from_db()
        MessageLog.objects.all().delete()
        TriggerConfig.objects.all().delete()
        Broadcast.objects.all().delete()
        texts = _texts_payload(field.name, payload)
        if model is TriggerConfig:
            source = TriggerConfig.objects.create(trigger="welcome", marketing=False, **texts)
            log = MessageLog.objects.create(member=zoe, trigger="welcome", occasion="t")
        elif model is MailVariant:  # an A/B test: whichever variant Zoé gets
            source = TriggerConfig.objects.create(
                trigger="welcome", marketing=False, **_texts_payload(field.name, "plain")
            )
            for name in ("A", "B"):
                variant = MailVariant.objects.create(trigger=source, name=name, **texts)
            log = MessageLog.objects.create(member=zoe, trigger="welcome", occasion="t")
        else:
            source = Broadcast.objects.create(name="b", segment=segment, **texts)
            log = MessageLog.objects.create(
                member=zoe, trigger="broadcast", occasion="b", broadcast=source
            )
            preview_subject, preview_body = broadcast_render(source, zoe)
            shown = preview_subject if field.name.startswith("subject_") else preview_body
            if field.name.startswith("subject_"):
                assert shown.strip() == rendered, field.name
            else:
                assert rendered in [p.strip() for p in shown.split("\n\n")], field.name
        subject, text, html = render_message(log)
        out = subject if field.name.startswith("subject_") else text
        if field.name.startswith("subject_"):
            assert out.strip() == rendered, (model, field.name)
        else:  # the message block of the text part (after the mail's header)
            assert rendered in [p.strip() for p in out.split("\n\n")], (model, field.name)
        for part in (subject, text, html):
            assert "pbkdf2" not in part and "zoe.login" not in part and zoe.email not in part
            assert "{%" not in part and "{{" not in part

        # ... and the console refuses to save it, saying what is wrong.
        with pytest.raises(ValidationError) as refused:
            (variant if model is MailVariant else source).full_clean()
        assert field.name in refused.value.message_dict


def test_every_documented_variable_renders_and_validates(zoe):
    text = " ".join(f"{{{{ {name} }}}}" for name in mailtext.VARIABLES)
    mailtext.validate_mail_text(text)  # accepted
    values = {name: f"<{name}>" for name in mailtext.VARIABLES}
    assert mailtext.render(text, values) == " ".join(f"<{n}>" for n in mailtext.VARIABLES)
    # the names older texts used still work
    mailtext.validate_mail_text("{{ member.first_name }} {{ tier.name }} {{ member.last_name }}")
    assert mailtext.render("{{member.first_name}}/{{ tier.name }}", values) == (
        "<first_name>/<tier>"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{{ member.user.password }}",
        "{{ first_name|upper }}",
        "{% include 'base.html' %}",
        "{% load static %}",
        "{# hidden #}",
        "{{ first_name }",
        "{% for c in challenges %}{{ c.name }}{% endfor %}",
    ],
)
def test_a_text_with_anything_but_the_variables_is_refused(text):
    with pytest.raises(ValidationError):
        mailtext.validate_mail_text(text)


def test_the_demo_texts_are_valid_sandbox_texts():
    for _trigger, *_rest, texts in TRIGGERS:
        for subject, body in texts.values():
            mailtext.validate_mail_text(subject)
            mailtext.validate_mail_text(body)
    tier_at_risk = next(t[-1] for t in TRIGGERS if t[0] == "tier_at_risk")
    assert "{{ tier_deadline }}" in tier_at_risk["en"][1]


def test_the_console_refuses_a_hostile_text_and_lists_the_variables(admin_client, program):
    url = reverse("admin:campaigns_triggerconfig_add")
    page = admin_client.get(url).content.decode()
    assert "{{ first_name }}" in page and "{{ tier_deadline }}" in page and "{{ basket }}" in page
    form = {
        "trigger": "welcome",
        "enabled": "on",
        "priority": 5,
        "offset_days": 1,
        "gift_carats": 0,
        "subject_en": "Welcome {{ first_name }}",
        "body_en": "Your hash: {{ member.user.password }}",
        "holdout_percent": 0,
        "winner_by": "clicks",
        # The A/B variants' inline, left empty.
        "variants-TOTAL_FORMS": 0,
        "variants-INITIAL_FORMS": 0,
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "is not a known variable" in response.content.decode()
    assert not TriggerConfig.objects.exists()
    form["body_en"] = "Dear {{ first_name }}, {{ balance }} carats: {{ account_url }}"
    assert admin_client.post(url, form).status_code == 302
    assert TriggerConfig.objects.get().body_en.startswith("Dear {{ first_name }}")


def test_the_member_admin_cannot_point_a_member_at_a_login(admin_client, zoe):
    other = UserFactory(email="staff@example.com", is_staff=True)
    url = reverse("admin:members_member_change", args=[zoe.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="user"' not in page
    response = admin_client.post(
        url,
        {
            "email": zoe.email,
            "first_name": "Zoé",
            "last_name": "Lambert",
            "user": other.pk,
            "language": "en",
            "country": "BE",
            "time_zone": "Europe/Brussels",
            "source": zoe.source,
            "joined_at_0": "2026-01-01",
            "joined_at_1": "10:00:00",
        },
    )
    assert response.status_code in (200, 302)
    zoe.refresh_from_db()
    assert zoe.user.email == "zoe.login@example.com"


def test_old_template_texts_are_migrated_to_the_sandbox_variables(zoe):
    from importlib import import_module

    migration = import_module("campaigns.migrations.0009_mail_texts_sandbox")
    TriggerConfig.objects.create(
        trigger="thank_you",
        subject_en="Thank you, {{ member.first_name }}",
        body_en="Thanks.{% for c in challenges %}\n\n{{ c.enrolment.challenge.name }}: "
        "{{ c.enrolment.challenge.description }} ({{ c.days_left }} days left){% endfor %}",
    )
    TriggerConfig.objects.create(
        trigger="tier_at_risk",
        subject_en="Keep your {{ tier.name }} status",
        body_en="A purchase before the end of the month keeps your {{ tier.name }} benefits.",
    )
    migration.forwards(apps, None)
    thanks = TriggerConfig.objects.get(trigger="thank_you")
    assert thanks.body_en == "Thanks.\n\n{{ challenges }}"
    risk = TriggerConfig.objects.get(trigger="tier_at_risk")
    assert (
        risk.body_en == "A purchase before {{ tier_deadline }} keeps your {{ tier.name }} benefits."
    )
    for row in (thanks, risk):
        row.full_clean()


# --- links: only staff-written ones are tracked -------------------------------------------


def _tracked(html):
    return [signing.loads(u, salt="carat.track.link") for u in re.findall(r"\?u=([^\"&]+)", html)]


def test_a_member_supplied_url_is_not_made_a_signed_redirect(enroll):
    phisher = enroll(first_name="https://evil.example/phish", last_name="x", email_opt_in=True)
    TriggerConfig.objects.create(
        trigger="welcome",
        marketing=False,
        subject_en="Welcome {{ first_name }}",
        body_en="Dear {{ member.first_name }}, see https://shop.example/new and {{ site_url }}/account/",
    )
    log = MessageLog.objects.create(member=phisher, trigger="welcome", occasion="w")
    _subject, text, html = render_message(log)
    assert "https://evil.example/phish" in text  # shown as the text it is ...
    tracked = _tracked(html)
    assert "https://shop.example/new" in tracked  # ... staff links are tracked ...
    assert any(u.endswith("/account/") for u in tracked)
    assert not any("evil" in u for u in tracked)  # ... the member's never
    assert "https://evil.example/phish" in html and 'href="https://evil' not in html


def test_a_member_supplied_url_in_a_built_in_mail_is_not_tracked(enroll):
    phisher = enroll(first_name="https://evil.example/phish", last_name="x", email_opt_in=True)
    log = MessageLog.objects.create(
        member=phisher, trigger="carats_expiring", occasion="expiry:2027-01-31:120"
    )
    # (no configured text: the built-in one from templates/campaigns/email/)
    _subject, text, html = render_message(log)
    assert "https://evil.example/phish" in text
    tracked = _tracked(html)
    assert tracked and not any("evil" in u for u in tracked)


# --- expiring links ------------------------------------------------------------------------


class _Clock:
    """Sign a token `days` ago (signatures carry the second they were made in)."""

    def __init__(self, monkeypatch, days):
        self.monkeypatch, self.shift = monkeypatch, days * 86400

    def __enter__(self):
        real = time.time
        self.monkeypatch.setattr(signing.time, "time", lambda: real() - self.shift)

    def __exit__(self, *exc):
        self.monkeypatch.undo()


def _path(url):
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _first_link(html):
    return _path(html.split('href="')[1].split('"')[0].replace("&amp;", "&"))


def _pixel(html):
    return _path(html.split('<img src="')[1].split('"')[0])


def test_open_and_click_links_expire(client, zoe, monkeypatch, settings):
    settings.CARAT_TRACK_TOKEN_DAYS = 180
    TriggerConfig.objects.create(
        trigger="welcome", marketing=False, subject_en="Hi", body_en="https://shop.example/new"
    )
    log = MessageLog.objects.create(member=zoe, trigger="welcome", occasion="w")
    with _Clock(monkeypatch, 181):
        _s, _t, old_html = render_message(log)
    with _Clock(monkeypatch, 179):
        _s, _t, recent_html = render_message(log)
    assert client.get(_first_link(old_html)).status_code == 400
    client.get(_pixel(old_html))
    log.refresh_from_db()
    assert log.opened_at is None and log.clicked_at is None
    response = client.get(_first_link(recent_html))
    assert response.status_code == 302 and response["Location"] == "https://shop.example/new"


def test_an_expired_unsubscribe_link_leads_to_the_log_in_and_changes_nothing(
    client, zoe, monkeypatch, settings
):
    settings.CARAT_UNSUBSCRIBE_TOKEN_DAYS = 400
    with _Clock(monkeypatch, 401):
        old = reverse("campaigns:unsubscribe", args=[unsubscribe_token(zoe)])
    with _Clock(monkeypatch, 399):
        recent = reverse("campaigns:unsubscribe", args=[unsubscribe_token(zoe)])
    for response in (client.get(old), client.post(old)):
        assert response.status_code == 410
        page = response.content.decode()
        assert "expired" in page
        assert reverse("members:login") + "?next=" in page and 'id="login-to-unsubscribe"' in page
    zoe.refresh_from_db()
    assert zoe.email_opt_in
    assert client.post(recent).status_code == 200
    zoe.refresh_from_db()
    assert not zoe.email_opt_in


def test_the_unsubscribe_pages_do_not_show_the_address(client, zoe):
    url = reverse("campaigns:unsubscribe", args=[unsubscribe_token(zoe)])
    for response in (client.get(url), client.post(url), client.get(url)):
        assert response.status_code == 200
        assert zoe.email not in response.content.decode()
        assert "m0@" not in response.content.decode()


# --- what the mails say --------------------------------------------------------------------


def test_the_basket_mail_lists_the_basket_items(enroll, django_capture_on_commit_callbacks):
    from pos.services import api_key_create
    from tests.test_api import client_for

    demo = next(t for t in TRIGGERS if t[0] == "cart_abandoned")
    subject, body = demo[-1]["en"]
    TriggerConfig.objects.create(
        trigger="cart_abandoned", offset_days=1, subject_en=subject, body_en=body
    )
    m = enroll(first_name="Ada", email_opt_in=True)
    _key, plain = api_key_create(name="web shop")
    api = client_for(plain)
    lines = [
        {"sku": "RING-1", "name": "Solitaire ring", "quantity": 1},
        {"sku": "EAR-2", "name": "Pearl earrings", "quantity": 2},
    ]
    body = {"member": m.member_number, "type": "cart_abandoned", "reference": "c1", "lines": lines}
    assert api.post("/api/v1/events/", body, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch(now=timezone.now() + timedelta(hours=2))
    (message,) = mail.outbox
    assert "Solitaire ring" in message.body and "2 x Pearl earrings" in message.body


def test_a_basket_text_without_the_variable_still_lists_the_items(enroll):
    m = enroll(first_name="Ada", email_opt_in=True)
    TriggerConfig.objects.create(
        trigger="cart_abandoned", subject_en="Your basket", body_en="Your basket is waiting."
    )
    log = MessageLog.objects.create(
        member=m,
        trigger="cart_abandoned",
        occasion="cart:c2",
        context={"lines": [{"sku": "RING-9"}, {"sku": "X", "name": "Tennis bracelet"}]},
    )
    _subject, text, _html = render_message(log)
    assert "RING-9" in text and "Tennis bracelet" in text


def test_a_subject_that_already_speaks_of_the_gift_gets_no_suffix(enroll):
    m = enroll(first_name="Ada", email_opt_in=True)
    demo = next(t for t in TRIGGERS if t[0] == "win_back")
    TriggerConfig.objects.create(
        trigger="win_back",
        gift_carats=100,
        subject_en=demo[-1]["en"][0],
        body_en=demo[-1]["en"][1],
        subject_nl=demo[-1]["nl"][0],
        body_nl=demo[-1]["nl"][1],
    )
    log = MessageLog.objects.create(member=m, trigger="win_back", occasion="winback:x")
    subject, text, _html = render_message(log)
    assert subject == "We miss you, Ada: 100 carats are waiting in store"
    assert "100 carats are on your card" in text
    Member.objects.filter(pk=m.pk).update(language="nl")
    log = MessageLog.objects.get(pk=log.pk)
    subject, _text, _html = render_message(log)
    assert subject == "We missen je, Ada: 100 karaten wachten in de winkel"


def test_the_tier_at_risk_mail_names_the_downgrade_date(
    enroll, tiers, django_capture_on_commit_callbacks
):
    """The tier job selects members whose hold ends in 30 days; the mail names that day
    (the one tiers.services downgrades from), not "the end of the month"."""
    marquise = tiers["marquise"]  # 500 qualifying carats; the member has none
    now = datetime(2026, 12, 8, 9, 0, tzinfo=BRU)
    m = enroll(first_name="Ada", email_opt_in=True)
    hold = datetime(2027, 1, 7, 15, 0, tzinfo=BRU)
    MemberTier.objects.filter(member=m).update(tier=marquise, hold_until=hold)
    demo = next(t for t in TRIGGERS if t[0] == "tier_at_risk")
    TriggerConfig.objects.create(
        trigger="tier_at_risk",
        offset_days=30,
        subject_en=demo[-1]["en"][0],
        body_en=demo[-1]["en"][1],
    )
    with django_capture_on_commit_callbacks(execute=True):
        triggers_select(now=now)
        messages_dispatch(now=now)
    (message,) = mail.outbox
    assert message.subject == "Keep your Marquise status"
    assert "before 7 January 2027 keeps your Marquise benefits" in message.body  # en-GB
    assert "end of the month" not in message.body


# --- CSV exports ---------------------------------------------------------------------------


def _csv(response):
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    assert raw.startswith("\ufeff".encode())  # UTF-8 with a BOM: spreadsheets read accents
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_segment_export_neutralises_formulas_and_keeps_accents(admin_client, enroll):
    enroll(first_name='=HYPERLINK("https://evil.example","Zoé")', last_name="Lefèvre")
    segment = Segment.objects.create(name="all")
    response = admin_client.post(
        reverse("admin:campaigns_segment_changelist"),
        {"action": "export_csv", "_selected_action": [segment.pk]},
    )
    header, row = _csv(response)
    assert header[:4] == ["member_number", "email", "first_name", "last_name"]
    assert row[2] == '\'=HYPERLINK("https://evil.example","Zoé")'
    assert row[3] == "Lefèvre"
    assert row[6] == "0"  # numbers stay numbers


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+32 470", "'+32 470"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Zoé", "Zoé"),
        (-5, -5),
        (Decimal("-12.50"), Decimal("-12.50")),
        (None, ""),
    ],
)
def test_the_csv_writer_marks_text_that_starts_a_formula(value, cell):
    assert csvexport.cell(value) == cell


def test_the_dashboard_export_uses_the_shared_writer():
    from loyalty.console.dashboard import Table, csv_response
    from loyalty.console.kpis import Period

    table = Table(
        key="revenue_by_store",
        title="Revenue",
        headers=["Store", "Revenue (EUR)", "Change"],
        rows=[],
        csv_rows=[["=cmd|' /C calc'!A0", Decimal("10.00"), -5]],
    )
    period = Period(date(2025, 1, 1), date(2025, 1, 31))
    rows = _csv(csv_response(table, period))
    assert rows == [["Store", "Revenue (EUR)", "Change"], ["'=cmd|' /C calc'!A0", "10.00", "-5"]]
