"""The member's profile fields are declared once (members.profile); every list made from
them is the one each output had before the declaration: the export, the console's form,
the member's profile form, member_update, the webhook payload and its erasure."""

from django.contrib import admin
from django.utils import translation

from loyalty.console import privacy
from members.forms import ProfileForm
from members.models import Member
from members.services import PROFILE_FIELDS, member_event_data, member_update


def test_the_export_lists_the_profile_then_the_accounts_facts(member):
    profile = privacy.member_export(member)["profile"]
    assert list(profile) == [
        "member_number", "email", "first_name", "last_name", "phone", "birth_date",
        "wedding_anniversary", "language", "country", "time_zone", "source", "external_id",
        "joined_at", "email_opt_in", "email_opt_in_at", "sms_opt_in", "sms_opt_in_at",
        "referral_code", "qr_rotated_at", "balance", "last_activity_at", "first_purchase_at",
        "last_purchase_at", "purchase_count", "lifetime_spend_eur", "erased_at", "referred_by",
    ]  # fmt: skip


def test_the_consoles_member_form_keeps_its_sections(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    fieldsets = admin.site._registry[Member].get_fieldsets(request)
    assert [(name, opts["fields"]) for name, opts in fieldsets[:3]] == [
        (None, ["member_number", "email", "first_name", "last_name", "phone", "user"]),
        ("Profile", ["birth_date", "wedding_anniversary", "language", "country", "time_zone",
                     "source", "external_id", "joined_at"]),
        ("Consents", ["email_opt_in", "email_opt_in_at", "sms_opt_in", "sms_opt_in_at",
                      "email_delivery"]),
    ]  # fmt: skip


def test_the_members_profile_form_asks_what_it_asked():
    form = ProfileForm()
    assert list(form.fields) == [
        "first_name", "last_name", "phone", "birth_date", "wedding_anniversary", "language",
        "email_opt_in", "sms_opt_in",
    ]  # fmt: skip
    with translation.override("en"):
        labels = [str(f.label) for f in form.fields.values()]
    assert labels == [
        "First name", "Last name", "Phone", "Birth date", "Wedding anniversary", "Language",
        "Marketing e-mails", "Text messages",
    ]  # fmt: skip


def test_member_update_changes_the_same_fields(member):
    assert PROFILE_FIELDS == (
        "first_name", "last_name", "phone", "birth_date", "wedding_anniversary", "language",
        "country", "time_zone", "external_id",
    )  # fmt: skip
    updated = member_update(member=member, source="test", time_zone="Europe/London")
    assert updated.time_zone == "Europe/London"


def test_the_webhook_payload_and_what_an_erasure_blanks_in_it(member):
    assert list(member_event_data(member)) == [
        "member", "email", "first_name", "last_name", "phone", "language", "country",
        "external_id", "source", "email_opt_in", "sms_opt_in",
    ]  # fmt: skip
    assert member_event_data(member)["member"] == member.member_number
    assert privacy._PERSONAL_EVENT_KEYS == (
        "email",
        "first_name",
        "last_name",
        "phone",
        "external_id",
    )


def test_an_erasure_blanks_the_personal_profile_fields(member):
    from members.services import member_erase

    Member.objects.filter(pk=member.pk).update(
        phone="+32470123456", country="BE", external_id="X-1", birth_date="1990-01-02",
        wedding_anniversary="2015-06-07",
    )  # fmt: skip
    erased = member_erase(member=member, source="member")
    erased.refresh_from_db()
    assert erased.email == f"erased-{member.pk}@erased.invalid"
    assert (erased.first_name, erased.last_name, erased.phone, erased.country) == ("", "", "", "")
    assert (erased.birth_date, erased.wedding_anniversary, erased.external_id) == (None,) * 3


def test_every_declared_profile_field_is_a_member_column():
    from members import profile

    columns = {f.name for f in Member._meta.concrete_fields}
    assert set(profile.FIELDS) <= columns
    assert len(profile.FIELDS) == len(profile.PROFILE)
