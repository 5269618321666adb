"""Member mails in the brand's layout: every trigger in every language, the reason and
the gift in the subject and header, content blocks, the voucher QR the till scans, one
language per mail, the sender per brand, and the provider's bounce webhook over HTTP."""

import base64
import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image

from campaigns.mail import compose, slots
from campaigns.mail.defaults import default_texts
from campaigns.models import Broadcast, MessageLog, Program, Reward, Segment, TriggerConfig
from campaigns.models.crm import Trigger, validate_blocks
from campaigns.services import broadcast_schedule, broadcasts_select, messages_dispatch
from campaigns.services.crm import message_deliver
from campaigns.services.rewards import voucher_issue_gift, voucher_use
from members.models import Member

TRIGGERS = [t for t in Trigger.values if t != "broadcast"]
# What each trigger's subject must name, per language (the reason).
REASON = {
    "welcome": ("Welcome", "Welkom", "Bienvenue"),
    "anniversary": ("year", "jaar", "année"),
    "thank_you": ("Thank you", "Bedankt", "Merci"),
    "service_guarantee": ("guarantee", "garantie", "garantie"),
    "cart_abandoned": ("basket", "winkelmandje", "panier"),
    "win_back": ("miss you", "missen je", "manquez"),
    "birthday_soon": ("birthday", "verjaardag", "anniversaire"),
    "birthday": ("birthday", "verjaardag", "anniversaire"),
    "wedding": ("wedding", "huwelijk", "mariage"),
    "tier_upgraded": ("benefits", "voordelen", "avantages"),
    "tier_at_risk": ("status", "status", "statut"),
    "carats_expiring": ("expire", "vervallen", "expirent"),
    "club_renewal": ("membership", "lidmaatschap", "adhésion"),
}
LANGUAGES = ("en", "nl", "fr")


@pytest.fixture
def mira(enroll):
    m = enroll(first_name="Mira", last_name="Peeters", email_opt_in=True, language="en")
    Member.objects.filter(pk=m.pk).update(birth_date=timezone.localdate() - timedelta(days=9000))
    m.refresh_from_db()
    return m


@pytest.fixture
def gift_reward(db):
    return Reward.objects.create(
        name="Jewellery cleaning", name_nl="Juwelenreiniging", name_fr="Nettoyage de bijoux",
        kind="service", cost_carats=0,
    )  # fmt: skip


def _configs(**gifts):
    for trigger in TRIGGERS:
        TriggerConfig.objects.create(
            trigger=trigger, **default_texts(trigger), **gifts.get(trigger, {})
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_trigger_renders_in_every_language_naming_the_reason_and_the_gift(mira, language):
    _configs(win_back={"gift_carats": 100}, welcome={"gift_carats": 50})
    for trigger in TRIGGERS:
        mail_ = compose.preview(member=mira, language=language, trigger=trigger)
        word = REASON[trigger][LANGUAGES.index(language)]
        assert word.lower() in mail_.subject.lower(), (trigger, language, mail_.subject)
        assert "{{" not in mail_.subject + mail_.text + mail_.html
        assert f'<html lang="{language}"' in mail_.html
        assert mail_.text.strip() and "Mira" in mail_.html
    # The gift is in the subject (and the header) when there is one.
    win_back = compose.preview(member=mira, language=language, trigger="win_back")
    assert "100" in win_back.subject and "100" in win_back.text.split("\n\n")[1]


def test_the_layout_has_dark_mode_narrow_screens_alt_texts_and_the_footer(mira):
    _configs()
    Program.objects.filter(pk=1).update(
        name="Maison Club", legal_address="Maison SA, Meir 1, 2000 Antwerpen"
    )
    p = Program.objects.get(pk=1)
    p.save()  # the cached program settings follow the save
    m = compose.preview(member=mira, language="nl", trigger="birthday")
    assert "prefers-color-scheme: dark" in m.html and 'name="color-scheme"' in m.html
    assert "max-width: 600px" in m.html
    assert 'alt="Maison Club"' in m.html  # the logo
    assert "Meir 1" in m.html and "Meir 1" in m.text
    assert "/m/u/" in m.html  # unsubscribe (a marketing mail)
    assert "Maison Club" in m.text and "Diamond Club" not in m.html + m.text
    assert 'style="' in m.html  # CSS inlined for clients that drop <style>


def test_blocks_are_validated_switched_and_ordered(mira):
    with pytest.raises(ValidationError):
        validate_blocks(["message", "nope"])
    with pytest.raises(ValidationError):
        validate_blocks(["balance"])  # the written message must stay
    validate_blocks(["balance", "message"])
    TriggerConfig.objects.create(
        trigger="tier_upgraded", blocks=["balance", "message"], **default_texts("tier_upgraded")
    )
    html = compose.preview(member=mira, language="en", trigger="tier_upgraded").html
    assert html.index("block-balance") < html.index("block-message")
    assert "block-tier_benefits" not in html  # switched off


def test_slots_render_nothing_without_a_provider_and_the_provider_s_data_with_one(mira):
    TriggerConfig.objects.create(trigger="thank_you", **default_texts("thank_you"))
    html = compose.preview(member=mira, language="en", trigger="thank_you").html
    assert "block-popular_products" not in html and "block-questionnaire" not in html
    slots.register_slot(
        "popular_products",
        lambda member, language: {
            "products": [{"name": "Eternity ring", "price": "890.00", "image_url": "javascript:x",
                          "url": "https://shop.example/ring"}]
        },
    )  # fmt: skip
    slots.register_slot(
        "questionnaire",
        lambda member, language, log: {"text": "Three questions", "url": "https://x.example/q/1"},
    )
    try:
        html = compose.preview(member=mira, language="en", trigger="thank_you").html
    finally:
        slots.register_slot("popular_products", None)
        slots.register_slot("questionnaire", None)
    assert "Eternity ring" in html and "https://shop.example/ring" in html
    assert "javascript:" not in html
    assert "https://x.example/q/1" in html


def test_a_voucher_qr_in_the_mail_decodes_to_a_code_the_till_redeems(mira, gift_reward):
    zxingcpp = pytest.importorskip("zxingcpp")
    voucher = voucher_issue_gift(member=mira, reward=gift_reward, source="birthday")
    TriggerConfig.objects.create(trigger="birthday", **default_texts("birthday"))
    rendered = compose.preview(member=mira, language="fr", trigger="birthday")
    image = next(i for i in rendered.images if voucher.code.replace("-", "") in i.cid)
    assert f"cid:{image.cid}" in rendered.html  # as sent: an inline image
    assert "data:image/png;base64," in rendered.html_for_browser()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)))
    assert [d.text for d in decoded] == [voucher.code]
    used = voucher_use(code=decoded[0].text, where="test")
    assert used.status == "used"


def test_a_french_member_gets_the_whole_broadcast_in_english_when_it_has_no_french(enroll):
    fr = enroll(first_name="Léa", email_opt_in=True, language="fr")
    segment = Segment.objects.create(name="everyone")
    b = Broadcast.objects.create(
        name="news", segment=segment, subject_en="Our new collection", body_en="Come and see.",
        subject_fr="Notre nouvelle collection",  # a French subject, but no French body
    )  # fmt: skip
    m = compose.preview(member=fr, language="fr", broadcast=b)
    assert m.subject == "Our new collection"
    assert "Unsubscribe" in m.text and "désinscri" not in m.text.lower()
    assert '<html lang="en"' in m.html
    b.body_fr = "Venez la découvrir."
    m = compose.preview(member=fr, language="fr", broadcast=b)
    assert m.subject == "Notre nouvelle collection" and "Venez" in m.text
    assert '<html lang="fr"' in m.html and "Unsubscribe" not in m.text


def test_mails_go_from_the_brand_s_sender_with_its_reply_to(
    mira, django_capture_on_commit_callbacks
):
    p = Program.objects.get(pk=1)
    p.mail_from_name, p.mail_reply_to = "Maison Lumière", "care@maison.example"
    p.save()
    b = Broadcast.objects.create(
        name="n", segment=Segment.objects.create(name="all"), subject_en="Hi", body_en="Hello"
    )
    broadcast_schedule(broadcast=b, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts_select()
        messages_dispatch()
    sent = mail.outbox[-1]
    assert sent.from_email.startswith("Maison Lumière <") and sent.reply_to == [
        "care@maison.example"
    ]
    assert sent.alternatives[0][1] == "text/html"


def _postmark_bounce(email, message_id):
    return {
        "RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "MessageID": message_id,
        "Email": email, "BouncedAt": "2026-06-15T10:00:00Z", "Description": "Unknown user",
        "Details": "smtp;550 5.1.1", "Inactive": True, "CanActivate": True,
    }  # fmt: skip


def _auth(secret="esp:test-webhook-secret"):  # noqa: S107 (the test settings' secret)
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def test_a_bounce_webhook_over_http_stops_the_next_mail_to_the_address(
    client, mira, django_capture_on_commit_callbacks
):
    segment = Segment.objects.create(name="all")
    first = Broadcast.objects.create(name="1", segment=segment, subject_en="One", body_en="1")
    broadcast_schedule(broadcast=first, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts_select()
        messages_dispatch()
    log = MessageLog.objects.get(broadcast=first)
    assert log.status == "sent" and len(mail.outbox) == 1
    payload = json.dumps(_postmark_bounce(mira.email, f"carat-{log.pk}@carat.example"))
    url = "/m/esp/tracking/"
    # Unauthenticated or wrong secret: refused, nothing changes.
    assert client.post(url, payload, content_type="application/json").status_code == 401
    bad = client.post(url, payload, content_type="application/json", **_auth("esp:wrong"))
    assert bad.status_code == 401
    mira.refresh_from_db()
    assert mira.email_undeliverable_at is None
    ok = client.post(url, payload, content_type="application/json", **_auth())
    assert ok.status_code == 200
    mira.refresh_from_db()
    log.refresh_from_db()
    assert mira.email_undeliverable_at is not None and "bounced" in mira.email_undeliverable_reason
    assert log.delivery == "bounced"
    # A late "delivered" for the same mail does not undo the bounce.
    delivered = {"RecordType": "Delivery", "MessageID": f"carat-{log.pk}@carat.example",
                 "Recipient": mira.email, "DeliveredAt": "2026-06-15T10:01:00Z", "Details": ""}  # fmt: skip
    client.post(url, json.dumps(delivered), content_type="application/json", **_auth())
    log.refresh_from_db()
    assert log.delivery == "bounced"
    # The next mail to the address does not go.
    second = Broadcast.objects.create(name="2", segment=segment, subject_en="Two", body_en="2")
    broadcast_schedule(broadcast=second, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts_select()
        messages_dispatch()
    assert len(mail.outbox) == 1
    assert MessageLog.objects.get(broadcast=second).status == "suppressed"


def test_the_webhook_does_not_exist_without_a_secret(client, settings):
    settings.ANYMAIL = {}
    assert client.post("/m/esp/tracking/", "{}", content_type="application/json").status_code == 404


def test_a_stored_delivery_report_shows_on_the_message_log(client, mira):
    log = MessageLog.objects.create(
        member=mira, trigger="welcome", occasion="w", status="sent", sent_at=timezone.now(),
        esp_message_id="pm-123",
    )  # fmt: skip
    delivered = {"RecordType": "Delivery", "MessageID": "pm-123", "Recipient": mira.email,
                 "DeliveredAt": "2026-06-15T10:01:00Z", "Details": ""}  # fmt: skip
    r = client.post(
        "/m/esp/tracking/", json.dumps(delivered), content_type="application/json", **_auth()
    )
    assert r.status_code == 200
    log.refresh_from_db()
    assert log.delivery == "delivered"
    mira.refresh_from_db()
    assert mira.email_undeliverable_at is None


def test_deliver_skips_an_undeliverable_address(mira):
    Member.objects.filter(pk=mira.pk).update(email_undeliverable_at=timezone.now())
    log = MessageLog.objects.create(member=mira, trigger="welcome", occasion="w", status="queued")
    assert message_deliver(log_id=log.pk) == "suppressed"
    assert mail.outbox == []


def test_a_new_address_clears_the_undeliverable_mark(mira):
    from members.services import member_update

    Member.objects.filter(pk=mira.pk).update(
        email_undeliverable_at=timezone.now(), email_undeliverable_reason="bounced: x"
    )
    member_update(member=mira, source="test", email="mira.new@example.com")
    mira.refresh_from_db()
    assert mira.email_undeliverable_at is None and mira.email_undeliverable_reason == ""


def test_account_mails_come_in_the_layout_with_the_program_s_name(enroll):
    from members.models import User
    from members.tasks import send_account_email

    p = Program.objects.get(pk=1)
    p.name = "Maison Club"
    p.save()
    user = User.objects.create_user(email="lea@example.com", password="pw-lea-12345")
    m = enroll(email="lea@example.com", first_name="Léa", language="fr")
    Member.objects.filter(pk=m.pk).update(user=user)
    send_account_email(user.pk, "verify")
    sent = mail.outbox[-1]
    assert "Maison Club" in sent.subject and "Diamond Club" not in sent.body
    html = sent.alternatives[0][0]
    assert '<html lang="fr"' in html and "Maison Club" in html


def test_the_console_warns_of_an_empty_language_the_audience_reads(enroll):
    from campaigns.mail.audience import language_gaps

    enroll(first_name="Jan", email_opt_in=True, language="nl")
    enroll(first_name="Léa", email_opt_in=True, language="fr")
    enroll(first_name="Noor", email_opt_in=False, language="nl")  # not in the audience
    b = Broadcast.objects.create(
        name="n", segment=Segment.objects.create(name="all"), subject_en="Hi", body_en="Hello",
        body_fr="Bonjour",
    )  # fmt: skip
    assert language_gaps(b) == [{"language": "nl", "name": "Nederlands", "members": 1}]


def test_send_now_queues_the_sending_at_once_and_says_when(
    enroll, django_capture_on_commit_callbacks
):
    from campaigns.services.dispatch import broadcast_next_send, broadcast_send_now
    from loyalty.kernel.models import OutboxTask

    b = Broadcast.objects.create(
        name="n", segment=Segment.objects.create(name="all"), subject_en="Hi", body_en="Hello"
    )
    broadcast_send_now(broadcast=b)
    b.refresh_from_db()
    assert b.status == "scheduled"
    assert OutboxTask.objects.filter(task="campaigns.send_broadcasts_now").count() == 1
    at = broadcast_next_send(b)
    assert at is not None and (at - timezone.now()) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("language", "shown"), [("en", "1,250.00"), ("nl", "1.250,00"), ("fr", "1\u00a0250,00")]
)
def test_product_prices_read_as_the_mails_language_writes_them(language, shown):
    from django.utils import translation

    from campaigns.mail.blocks import _price

    with translation.override(language):
        assert _price("1250.00").replace(" ", "\u00a0") == shown
        assert _price("not a price") == ""
