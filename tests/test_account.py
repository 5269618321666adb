"""The member's web account, through Django's test client."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from members.models import ConsentChange, Member, User
from members.services import member_invite
from pos.services import purchase_record


def _link(message) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit callbacks (the queued e-mails) as the real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def join(client, **overrides):
    data = {
        "first_name": "Zoé",
        "last_name": "Peeters",
        "email": "zoe@example.com",
        "password": "sparkle-2026!",
        **overrides,
    }
    return client.post(reverse("members:signup"), data)


def test_signup_creates_an_inactive_login_until_the_email_is_confirmed(client, program, committed):
    with committed():
        response = join(client)
    assert response.status_code == 200
    assert "zoe@example.com" in response.content.decode()
    member = Member.objects.get(email="zoe@example.com")
    assert not member.user.is_active
    assert (member.email_opt_in, member.sms_opt_in) == (False, False)  # unticked by default
    assert not client.login(email="zoe@example.com", password="sparkle-2026!")
    assert len(mail.outbox) == 1
    response = client.get(_link(mail.outbox[0]))
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.is_active
    home = client.get(reverse("members:home"))
    assert member.member_number in home.content.decode().replace(" ", "")


def test_signup_refuses_a_weak_password_and_leaves_an_existing_account_alone(client, program):
    response = join(client, password="123")
    assert response.status_code == 200
    assert not Member.objects.exists()
    User.objects.create_user(email="staff@example.com", password="strong-pass-99")
    response = join(client, email="staff@example.com")
    # the same answer as for a new address: the page does not tell who has an account
    assert "Check your inbox" in response.content.decode()
    assert User.objects.get(email="staff@example.com").check_password("strong-pass-99")
    assert not Member.objects.exists()


def test_a_used_or_forged_verification_link_fails_cleanly(client, program, committed):
    with committed():
        join(client)
    link = _link(mail.outbox[0])
    assert client.get(link).status_code == 302
    client.logout()
    client.get(link)  # second use: the token changed with last_login
    assert client.get(link).status_code == 400
    assert client.get("/account/verify/xx/yy/").status_code == 400


@pytest.fixture
def logged_in(client, member):
    user = User.objects.create_user(email=member.email, password="pw-12345-abc")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    member.refresh_from_db()
    return member


def test_home_shows_balance_tier_progress_and_history(client, logged_in, antwerp):
    purchase_record(
        member=logged_in,
        channel="store",
        store=antwerp,
        receipt_id="H1",
        amount="270.00",
        currency="EUR",
    )
    page = client.get(reverse("members:home")).content.decode()
    assert "270" in page
    assert "Radiant" in page
    assert "230 carats to Marquise" in page
    assert "You earned 270 carats at Carat Antwerp" in page
    assert "H1" not in page  # the receipt number is the console's, not the member's


def test_qr_code_is_an_svg_that_changes_when_rotated(client, logged_in):
    first = client.get(reverse("members:qr"))
    assert first["Content-Type"] == "image/svg+xml"
    assert "no-store" in first["Cache-Control"]
    old_token = logged_in.qr_token
    client.post(reverse("members:rotate_qr"))
    logged_in.refresh_from_db()
    assert logged_in.qr_token != old_token
    assert client.get(reverse("members:qr")).content != first.content


def test_rotate_requires_post(client, logged_in):
    assert client.get(reverse("members:rotate_qr")).status_code == 405


def test_profile_change_records_consents_with_time(client, logged_in):
    response = client.post(
        reverse("members:profile"),
        {
            "first_name": "Ada",
            "last_name": "King",
            "phone": "+32 470 12 34 56",
            "birth_date": "1990-05-17",
            "language": "nl",
            "email_opt_in": "on",
        },
    )
    assert response.status_code == 302
    logged_in.refresh_from_db()
    assert logged_in.last_name == "King"
    assert logged_in.phone == "+32470123456"
    assert logged_in.language == "nl"
    assert logged_in.email_opt_in and logged_in.email_opt_in_at is not None
    change = ConsentChange.objects.get(member=logged_in)
    assert (change.channel, change.granted, change.source) == ("email", True, "account")


def test_profile_rejects_bad_input_and_changes_nothing(client, logged_in):
    response = client.post(
        reverse("members:profile"),
        {"first_name": "", "last_name": "X", "phone": "call me", "language": "xx"},
    )
    assert response.status_code == 200
    logged_in.refresh_from_db()
    assert logged_in.last_name == "Lovelace"


def test_account_pages_need_a_login(client, db):
    for name in ("home", "qr", "history", "profile"):
        response = client.get(reverse(f"members:{name}"))
        assert response.status_code == 302
        assert reverse("members:login") in response["Location"]


def test_staff_login_without_membership_gets_a_clear_page(client, db):
    client.force_login(User.objects.create_user(email="ops@example.com", password="x-12345678"))
    assert client.get(reverse("members:home")).status_code == 403


def test_member_registered_at_the_counter_sets_a_password_from_the_invitation(
    client, member, committed
):
    with committed():
        member_invite(member=member)
    assert len(mail.outbox) == 1
    link = _link(mail.outbox[0])
    page = client.get(link, follow=True)
    assert page.status_code == 200
    response = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-77", "new_password2": "brand-new-pass-77"},
    )
    assert response.status_code == 302
    user = User.objects.get(email=member.email)
    assert user.is_active and user.check_password("brand-new-pass-77")
    assert client.get(reverse("members:home")).status_code == 200


def test_names_with_html_are_escaped(client, logged_in):
    Member.objects.filter(pk=logged_in.pk).update(first_name="<script>alert(1)</script>")
    page = client.get(reverse("members:home")).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_pages_speak_the_profiles_language(client, logged_in):
    client.cookies["django_language"] = "en"  # another device's choice: the profile wins
    Member.objects.filter(pk=logged_in.pk).update(language="nl")
    page = client.get(reverse("members:home")).content.decode()
    assert "Jouw persoonlijke QR-code" in page
    Member.objects.filter(pk=logged_in.pk).update(language="fr")
    page = client.get(reverse("members:home")).content.decode()
    assert "Votre QR code personnel" in page


def test_the_language_switch_of_a_member_changes_the_profile(client, logged_in):
    Member.objects.filter(pk=logged_in.pk).update(language="en")
    response = client.post(
        reverse("members:language"), {"language": "fr", "next": reverse("members:rewards")}
    )
    assert response.status_code == 302 and response.url == reverse("members:rewards")
    logged_in.refresh_from_db()
    assert logged_in.language == "fr"
    assert "Récompenses" in client.get(reverse("members:rewards")).content.decode()
    # An address elsewhere is not followed.
    away = client.post(
        reverse("members:language"), {"language": "nl", "next": "https://evil.example/"}
    )
    assert away.url == reverse("members:home")


def test_rewards_page_redeems_and_shows_the_voucher_and_clubs(client, logged_in):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import Club, Reward
    from members.services import ledger_post

    ledger_post(member=logged_in, carats=2600, kind="bonus", reason="gift", key="fund")
    reward = Reward.objects.create(
        name="EUR 25 off",
        kind="amount",
        cost_carats=500,
        starts_at=timezone.now() - timedelta(days=1),
    )
    hidden = Reward.objects.create(
        name="Secret rental",
        kind="experience",
        cost_carats=10,
        starts_at=timezone.now() - timedelta(days=1),
    )
    from tiers.models import Tier

    hidden.tiers.add(Tier.objects.get(code="ambassador"))
    club = Club.objects.create(name="Bridal Circle", cost_carats=2000)
    page = client.get(reverse("members:rewards")).content.decode()
    assert "EUR 25 off" in page and "Bridal Circle" in page
    assert "Secret rental" not in page
    assert logged_in.referral_code in page
    client.post(reverse("members:redeem", args=[reward.pk]))
    client.post(reverse("members:join_club", args=[club.pk]))
    page = client.get(reverse("members:rewards")).content.decode()
    voucher = logged_in.vouchers.get()
    assert voucher.code in page
    assert "You are in Bridal Circle" in page
    logged_in.refresh_from_db()
    assert logged_in.balance == 100
    assert client.get(reverse("members:voucher_qr", args=[voucher.code])).status_code == 200
    # a hidden reward posted directly is refused with a message, nothing changes
    response = client.post(reverse("members:redeem", args=[hidden.pk]), follow=True)
    assert "not available" in response.content.decode()
    logged_in.refresh_from_db()
    assert logged_in.balance == 100


def test_referral_link_prefills_the_code_and_rewards_the_friend(client, member, committed):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import ActionRule

    ActionRule.objects.create(
        name="Friend",
        action="referral_friend",
        carats=50,
        starts_at=timezone.now() - timedelta(days=1),
    )
    page = client.get(reverse("members:signup") + f"?ref={member.referral_code}")
    assert member.referral_code in page.content.decode()
    with committed():
        join(client, referral_code=member.referral_code)
    friend = Member.objects.get(email="zoe@example.com")
    assert friend.referred_by == member
    assert friend.balance == 50


def test_an_out_of_stock_reward_is_shown_unavailable_and_cannot_be_redeemed(client, logged_in):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import Reward
    from members.services import ledger_post

    ledger_post(member=logged_in, carats=1000, kind="bonus", reason="gift", key="fund")
    gone = Reward.objects.create(
        name="Last pearl",
        kind="amount",
        cost_carats=500,
        stock=1,
        starts_at=timezone.now() - timedelta(days=1),
    )
    Reward.objects.filter(pk=gone.pk).update(issued_count=1)
    page = client.get(reverse("members:rewards")).content.decode()
    offer = page[page.index("Last pearl") :].split("</form>")[0]
    assert "Out of stock" in offer
    assert re.search(r"<button[^>]*disabled", offer)
    response = client.post(reverse("members:redeem", args=[gone.pk]), follow=True)
    assert "out of stock" in response.content.decode()
    logged_in.refresh_from_db()
    assert logged_in.balance == 1000 and not logged_in.vouchers.exists()
