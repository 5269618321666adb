"""The retroactive launch import (pos.imports.history_import, manage.py import_history)."""

import dataclasses
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import BytesIO, StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from loyalty.kernel.errors import DomainError
from members import codes
from members.models import LedgerEntry, Member
from members.selectors import ledger_mismatches
from members.services import ledger_post
from pos import imports
from pos.admin_import import import_view
from pos.imports import history_import, launch_at
from pos.models import Purchase
from tests.factories import MemberFactory, UserFactory, make_rate
from tests.helpers import assert_balance_matches_ledger
from tiers.models import MemberTier, TierChange

pytestmark = pytest.mark.postgresql  # COPY and SQL written for PostgreSQL

HEADER = "order_id,email,phone,external_id,occurred_at,store,amount,currency"
BRUSSELS = ZoneInfo("Europe/Brussels")


def write_csv(tmp_path, *rows, header=HEADER, name="orders.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def day(days_ago: int) -> str:
    return (timezone.localdate() - timedelta(days=days_ago)).isoformat()


def noon(days_ago: int, zone=BRUSSELS) -> datetime:
    d = timezone.localdate() - timedelta(days=days_ago)
    return datetime.combine(d, time(12), tzinfo=zone)


def run(path, *, dry_run=False, **kw):
    return history_import(path_or_file=path, dry_run=dry_run, **kw)


def counts():
    return (
        Member.objects.count(),
        Purchase.objects.count(),
        LedgerEntry.objects.count(),
        MemberTier.objects.count(),
        TierChange.objects.count(),
    )


def assert_every_balance_matches_ledger():
    assert not ledger_mismatches().exists()
    for member in Member.objects.all():
        assert_balance_matches_ledger(member)


@pytest.fixture
def rates(db):
    make_rate("GBP", "1.100000", days_ago=400)
    make_rate("GBP", "1.200000", days_ago=100)


@pytest.fixture
def stores(program, antwerp, london, rates):
    return antwerp, london


def test_import_matches_members_by_external_id_email_and_phone_and_creates_the_others(
    enroll, stores, tmp_path
):
    by_ext = enroll(email="ext@example.com", external_id="ERP-1")
    by_mail = enroll(email="bea@example.com")
    by_phone = enroll(email="tel@example.com", phone="+32 470 12 34 56")
    path = write_csv(
        tmp_path,
        # the external id wins over an e-mail nobody has
        f"A-1,other@example.com,,ERP-1,{day(200)},antwerp,250.00,EUR",
        f"A-2,BEA@Example.COM,,,{day(150)},antwerp,99.99,EUR",
        f"L-1,,+32.470.12.34.56,,{day(200)},london,100.99,GBP",
        f"W-1,New@Example.com,0470 99 88 77,NEW-9,{day(300)},,40.00,EUR",
        # no e-mail: found through the external id of the member created from W-1
        f"W-2,,,NEW-9,{day(20)}T10:00:00Z,,60.50,EUR",
    )

    report = run(path)

    assert (report.rows_read, report.rejected) == (5, 0), report.rejections
    assert (report.members_matched, report.members_created) == (3, 1)
    assert (report.purchases_imported, report.purchases_skipped) == (5, 0)
    assert report.carats_awarded == 250 + 99 + 111 + 40 + 60
    assert report.amount_eur == Decimal("561.58")
    assert by_ext.purchases.get().receipt_key == "import:antwerp:A-1"
    assert by_mail.purchases.get().receipt_key == "import:antwerp:A-2"
    assert by_phone.purchases.get().receipt_key == "import:london:L-1"

    new = Member.objects.get(email="new@example.com")
    assert new.source == Member.Source.IMPORT
    assert (new.external_id, new.phone) == ("NEW-9", "0470 99 88 77")
    assert codes.is_valid_member_number(new.member_number)
    assert new.qr_token and new.referral_code
    assert new.joined_at == noon(300)  # the first order's date
    assert new.purchase_count == 2
    assert new.lifetime_spend_eur == Decimal("100.50")
    assert new.first_purchase_at == noon(300)
    last = datetime.combine(
        timezone.localdate() - timedelta(days=20), time(10), tzinfo=ZoneInfo("UTC")
    )
    assert new.last_purchase_at == last
    assert new.balance == 100
    assert MemberTier.objects.get(member=new).tier.code == "radiant"
    assert set(new.purchases.values_list("receipt_key", flat=True)) == {
        "import:-:W-1",
        "import:-:W-2",
    }
    assert_every_balance_matches_ledger()


def test_gbp_orders_convert_at_the_rate_valid_on_their_date_and_earn_floor_of_eur(
    member, stores, tmp_path
):
    path = write_csv(
        tmp_path,
        f"L-OLD,ada@example.com,,,{day(200)},london,100.99,GBP",
        f"L-NEW,ada@example.com,,,{day(50)},london,100.99,GBP",
    )

    run(path)

    old = Purchase.objects.get(receipt_id="L-OLD")
    assert old.channel == "import"
    assert old.occurred_at == noon(200)  # a date is noon in the store's zone
    assert (old.rate_to_eur, old.amount_eur, old.carats_awarded) == (
        Decimal("1.100000"),
        Decimal("111.09"),
        111,
    )
    new = Purchase.objects.get(receipt_id="L-NEW")
    assert (new.rate_to_eur, new.amount_eur, new.carats_awarded) == (
        Decimal("1.200000"),
        Decimal("121.19"),  # 121.188 rounded half up
        121,
    )
    entry = LedgerEntry.objects.get(key="retro:import:london:L-OLD")
    assert (entry.kind, entry.carats, entry.member_id) == ("retroactive", 111, member.pk)
    assert entry.occurred_at == old.occurred_at
    assert entry.reason == f"Retroactive: order L-OLD of {day(200)}"
    member.refresh_from_db()
    assert member.balance == 232
    assert member.purchase_count == 2
    assert member.lifetime_spend_eur == Decimal("232.28")
    assert (member.first_purchase_at, member.last_purchase_at) == (old.occurred_at, new.occurred_at)
    assert_balance_matches_ledger(member)


def test_balance_after_continues_from_the_existing_balance_in_date_order(member, antwerp, tmp_path):
    ledger_post(member=member, carats=30, kind="adjustment", reason="welcome", key="adj-1")
    path = write_csv(
        tmp_path,
        f"O-2,ada@example.com,,,{day(10)},antwerp,20.00,EUR",
        f"O-1,ada@example.com,,,{day(100)},antwerp,10.00,EUR",
        f"O-0,ada@example.com,,,{day(7)},antwerp,0.50,EUR",  # earns 0 carats
        f"O-3,ada@example.com,,,{day(5)},antwerp,5.99,EUR",
    )

    report = run(path)

    assert (report.purchases_imported, report.carats_awarded) == (4, 35)
    entries = LedgerEntry.objects.filter(kind="retroactive").order_by("occurred_at", "id")
    assert [(e.key, e.carats, e.balance_after) for e in entries] == [
        ("retro:import:antwerp:O-1", 10, 40),
        ("retro:import:antwerp:O-2", 20, 60),
        ("retro:import:antwerp:O-3", 5, 65),
    ]
    purchases = Purchase.objects.order_by("occurred_at")
    assert [(p.receipt_id, p.carats_awarded, p.balance_after) for p in purchases] == [
        ("O-1", 10, 40),
        ("O-2", 20, 60),
        ("O-0", 0, 60),
        ("O-3", 5, 65),
    ]
    member.refresh_from_db()
    assert (member.balance, member.purchase_count) == (65, 4)
    assert_balance_matches_ledger(member)


def test_tiers_are_recomputed_as_of_the_launch_date(stores, tmp_path):
    launch = timezone.localdate() - timedelta(days=100)
    path = write_csv(
        tmp_path,
        f"T-1,marquise@example.com,,,{day(150)},antwerp,600.00,EUR",
        # 420 days before today but 320 before the launch: inside its 12 months
        f"T-2,late@example.com,,,{day(420)},antwerp,600.00,EUR",
        f"T-3,old@example.com,,,{day(500)},antwerp,600.00,EUR",
        f"T-4,emerald@example.com,,,{day(300)},antwerp,1000.00,EUR",
        f"T-5,emerald@example.com,,,{day(200)},antwerp,600.00,EUR",
    )

    report = run(path, launch=launch)

    def tier(email):
        return MemberTier.objects.select_related("tier").get(member__email=email)

    assert tier("marquise@example.com").tier.code == "marquise"
    assert tier("late@example.com").tier.code == "marquise"
    assert tier("old@example.com").tier.code == "radiant"
    assert tier("emerald@example.com").tier.code == "emerald"
    assert tier("marquise@example.com").reached_at == launch_at(launch)
    assert report.launch == launch_at(launch)
    assert report.tiers_upgraded == 3
    assert report.tier_counts_imported == {"Radiant": 1, "Marquise": 2, "Emerald": 1}
    assert report.tier_counts == report.tier_counts_imported


def test_bad_rows_are_rejected_with_reasons_and_the_good_ones_imported(member, stores, tmp_path):
    path = write_csv(
        tmp_path,
        f"G-1,ada@example.com,,,{day(10)},antwerp,100.00,EUR",  # line 2: good
        f",ada@example.com,,,{day(10)},antwerp,1.00,EUR",
        f"R-3,,,,{day(10)},antwerp,1.00,EUR",
        f"R-4,not-an-email,,,{day(10)},antwerp,1.00,EUR",
        f"R-5,ada@example.com,,,{day(10)},paris,1.00,EUR",
        "R-6,ada@example.com,,,2024-02-30,antwerp,1.00,EUR",
        "R-7,ada@example.com,,,yesterday,antwerp,1.00,EUR",
        f"R-8,ada@example.com,,,{day(-10)},antwerp,1.00,EUR",
        f"R-9,ada@example.com,,,{day(10)},antwerp,-5.00,EUR",
        f'R-10,ada@example.com,,,{day(10)},antwerp,"12,50",EUR',
        f"R-11,ada@example.com,,,{day(10)},antwerp,0.00,EUR",
        f"R-12,ada@example.com,,,{day(10)},antwerp,1.00,XYZ",
        f"R-13,ada@example.com,,,{day(500)},london,1.00,GBP",
        f"G-1,ada@example.com,,,{day(10)},antwerp,100.00,EUR",
        f"R-15,,+1 555 0100,,{day(10)},antwerp,1.00,EUR",
        f"G-16,ada@example.com,,,{day(12)},london,10.00,gbp",  # good: currency in any case
    )

    report = run(path)

    reasons = {r.line: r.reason for r in report.rejections}
    assert reasons == {
        3: "missing order id",
        4: "no customer identifier (e-mail, phone or external id)",
        5: "invalid e-mail 'not-an-email'",
        6: "unknown store code 'paris'",
        7: "bad date '2024-02-30' (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])",
        8: "bad date 'yesterday' (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])",
        9: f"dated in the future ('{day(-10)}')",
        10: "negative amount '-5.00'",
        11: "bad amount '12,50' (a positive decimal with a dot and at most 2 decimals, e.g. 129.90)",
        12: "amount is zero",
        13: "unknown currency 'XYZ'",
        14: f"no GBP exchange rate valid on {day(500)}",
        15: "order 'G-1' already appears on line 2",
        16: "no member matches and there is no e-mail to create one",
    }
    assert report.rejected == 14
    assert report.rejected_by_reason["bad_date"] == 2
    assert (report.purchases_imported, report.carats_awarded) == (2, 112)
    assert set(Purchase.objects.values_list("receipt_id", flat=True)) == {"G-1", "G-16"}
    assert Member.objects.count() == 1
    assert_every_balance_matches_ledger()


def test_contradicting_or_ambiguous_customers_are_rejected(enroll, antwerp, tmp_path):
    enroll(email="one@example.com", phone="0470 11 22 33")
    enroll(email="two@example.com", phone="0470112233")
    path = write_csv(
        tmp_path,
        f"C-1,x@example.com,,E-1,{day(10)},antwerp,10.00,EUR",
        f"C-2,x@example.com,,E-2,{day(10)},antwerp,10.00,EUR",
        f"C-3,y@example.com,,E-3,{day(10)},antwerp,10.00,EUR",
        f"C-4,z@example.com,,E-3,{day(10)},antwerp,10.00,EUR",
        f"C-5,,0470/11.22.33,,{day(10)},antwerp,10.00,EUR",  # two members have this phone
        f"C-6,w@example.com,,E-4,{day(10)},antwerp,10.00,EUR",
    )

    report = run(path)

    assert {r.line: r.reason for r in report.rejections} == {
        2: "e-mail 'x@example.com' appears with different external ids",
        3: "e-mail 'x@example.com' appears with different external ids",
        4: "external id 'E-3' appears with different e-mails",
        5: "external id 'E-3' appears with different e-mails",
        6: "no member matches and there is no e-mail to create one",
    }
    assert report.members_created == 1
    assert Member.objects.get(external_id="E-4").email == "w@example.com"


def test_dates_are_read_in_the_store_time_zone_unless_an_offset_is_given(
    member, london, rates, tmp_path
):
    london.time_zone = "Europe/London"
    london.save()
    d = day(30)
    path = write_csv(
        tmp_path,
        f"D-1,ada@example.com,,,{d},london,1.00,EUR",
        f"D-2,ada@example.com,,,{d}T09:15,london,1.00,EUR",
        f"D-3,ada@example.com,,,{d} 09:15:30.5+05:30,london,1.00,EUR",
        f"D-4,ada@example.com,,,{d}T23:59:59,,1.00,EUR",
    )

    report = run(path)

    assert report.rejected == 0, report.rejections
    at = {p.receipt_id: p.occurred_at for p in Purchase.objects.all()}
    london_tz, base = ZoneInfo("Europe/London"), noon(30).date()
    assert at["D-1"] == datetime.combine(base, time(12), tzinfo=london_tz)
    assert at["D-2"] == datetime.combine(base, time(9, 15), tzinfo=london_tz)
    india = ZoneInfo("Asia/Kolkata")
    assert at["D-3"] == datetime.combine(base, time(9, 15, 30, 500000), tzinfo=india)
    assert at["D-4"] == datetime.combine(base, time(23, 59, 59), tzinfo=BRUSSELS)


def test_running_the_same_file_twice_awards_once(enroll, stores, tmp_path):
    enroll(email="ada@example.com")
    path = write_csv(
        tmp_path,
        f"S-1,ada@example.com,,,{day(10)},antwerp,100.00,EUR",
        f"S-2,new@example.com,,,{day(20)},london,50.00,GBP",
        f"S-3,bad,,,{day(20)},london,50.00,GBP",
    )
    first = run(path)
    balances = dict(Member.objects.values_list("email", "balance"))
    before = counts()

    second = run(path)

    assert (first.purchases_imported, first.members_created, first.carats_awarded) == (2, 1, 160)
    assert (second.purchases_imported, second.purchases_skipped) == (0, 2)
    assert (second.members_created, second.members_matched, second.carats_awarded) == (0, 0, 0)
    assert second.rejected == 1
    assert counts() == before
    assert dict(Member.objects.values_list("email", "balance")) == balances
    assert Member.objects.get(email="new@example.com").purchase_count == 1
    assert_every_balance_matches_ledger()


def test_an_order_recorded_meanwhile_is_left_alone_and_moves_nothing(
    enroll, antwerp, tmp_path, monkeypatch
):
    other = enroll(email="other@example.com")
    path = write_csv(
        tmp_path,
        f"K-1,new@example.com,,,{day(30)},antwerp,100.00,EUR",
        f"K-2,new@example.com,,,{day(20)},antwerp,200.00,EUR",
        f"K-3,other@example.com,,,{day(10)},antwerp,50.00,EUR",
    )
    record = imports._Import.record_purchases

    def someone_else_records_k2_first(self):
        # Between the "already imported" check and the insert (normally impossible: imports
        # are serialised, and sales use other receipt keys).
        Purchase.objects.create(
            member=other,
            channel="import",
            store=antwerp,
            receipt_id="K-2",
            receipt_key="import:antwerp:K-2",
            fingerprint="-",
            amount=Decimal("1.00"),
            currency="EUR",
            rate_to_eur=Decimal("1"),
            amount_eur=Decimal("1.00"),
            occurred_at=noon(20),
        )
        record(self)

    monkeypatch.setattr(imports._Import, "record_purchases", someone_else_records_k2_first)

    report = run(path)

    assert (report.purchases_imported, report.carats_awarded) == (2, 150)
    new = Member.objects.get(email="new@example.com")
    assert (new.balance, new.purchase_count, new.lifetime_spend_eur) == (100, 1, Decimal("100"))
    assert new.first_purchase_at == new.last_purchase_at == noon(30)
    other.refresh_from_db()
    assert (other.balance, other.purchase_count) == (50, 1)
    assert not LedgerEntry.objects.filter(key="retro:import:antwerp:K-2").exists()
    assert_every_balance_matches_ledger()


def test_dry_run_writes_nothing_and_reports_the_numbers_of_the_real_run(enroll, stores, tmp_path):
    enroll(email="ada@example.com")
    MemberFactory(email="bare@example.com")  # no tier yet: the evaluation initialises it
    path = write_csv(
        tmp_path,
        f"Y-1,ada@example.com,,,{day(10)},antwerp,700.00,EUR",
        f"Y-2,new@example.com,,,{day(20)},london,50.00,GBP",
        f"Y-3,,,,{day(20)},london,50.00,GBP",
    )
    before = counts()

    dry = run(path, dry_run=True)

    assert counts() == before
    real = run(path)
    assert counts() != before
    fields = [
        f.name
        for f in dataclasses.fields(dry)
        if f.name not in ("dry_run", "launch", "timings", "seconds")
    ]
    assert {f: getattr(dry, f) for f in fields} == {f: getattr(real, f) for f in fields}
    assert (dry.dry_run, real.dry_run) == (True, False)
    assert (dry.members_created, dry.purchases_imported, dry.tiers_upgraded) == (1, 2, 1)


def test_an_unexpected_error_leaves_nothing_written(member, stores, tmp_path, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("pos.imports.run.tiers_evaluate_all", boom)
    path = write_csv(tmp_path, f"E-1,new@example.com,,,{day(10)},antwerp,100.00,EUR")
    before = counts()

    with pytest.raises(RuntimeError):
        run(path)

    assert counts() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"order_id,email,amount\n1,a@example.com,1\n", "Missing column(s): occurred_at, currency"),
        (b"order_id,occurred_at,amount,currency\n", "At least one of the columns"),
        (
            f"{HEADER}\nA,a@example.com,,,2024-01-01,,1,EUR\nB,a@example.com,,,2024-01-01\n".encode(),
            "could not be read as CSV on line 3",
        ),
        (f"{HEADER}\nA,caf\xe9@example.com,,,2024-01-01,,1,EUR\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(program, content, message):
    before = counts()
    with pytest.raises(DomainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(BytesIO(content))
    assert counts() == before


def test_extra_columns_any_order_and_a_bom_are_fine(member, antwerp):
    content = (
        "\ufeffAmount,Currency,note,Order_ID,Occurred_At,Email\n"
        f'129.90,EUR,"gift, wrapped",Z-1,{day(3)},ada@example.com\n'
    ).encode()
    report = run(BytesIO(content))
    assert (report.rejected, report.purchases_imported, report.carats_awarded) == (0, 1, 129)
    assert Purchase.objects.get().receipt_key == "import:-:Z-1"


def test_command_prints_its_summary(member, stores, tmp_path):
    path = write_csv(
        tmp_path,
        f"M-1,ada@example.com,,,{day(10)},antwerp,600.00,EUR",
        f"M-2,,,,{day(10)},antwerp,1.00,EUR",
    )
    out = StringIO()

    call_command("import_history", str(path), "--dry-run", stdout=out)
    assert "DRY RUN" in out.getvalue()
    assert Purchase.objects.count() == 0

    out = StringIO()
    call_command("import_history", str(path), "--launch-date", day(1), stdout=out)
    text = out.getvalue()
    assert "Import done" in text
    assert "rows read:            2" in text
    assert "rejected:             1" in text
    assert "line 3: no customer identifier" in text
    assert "members matched:      1" in text
    assert "purchases imported:   1" in text
    assert "carats awarded:       600" in text
    assert "tiers of the imported members: Marquise 1" in text
    assert Purchase.objects.count() == 1


def test_command_reports_a_bad_file_as_an_error(program, tmp_path):
    with pytest.raises(CommandError, match="Missing column"):
        call_command("import_history", str(write_csv(tmp_path, header="a,b")), stdout=StringIO())
    with pytest.raises(CommandError, match="Cannot open"):
        call_command("import_history", str(tmp_path / "nope.csv"), stdout=StringIO())


def test_admin_upload_runs_a_dry_run_for_staff_with_the_permission(member, antwerp, rf):
    staff = UserFactory(email="marketing@example.com", is_staff=True)
    content = (
        f"{HEADER}\nU-1,ada@example.com,,,{day(3)},antwerp,10.00,EUR\n"
        f"U-2,ada@example.com,,,{day(3)},nowhere,10.00,EUR\n"
    ).encode()

    def post(user):
        request = rf.post(
            "/admin/pos/purchase/import/",
            {"file": SimpleUploadedFile("orders.csv", content), "dry_run": "on"},
        )
        request.user = user
        return import_view(request)

    with pytest.raises(PermissionDenied):
        post(staff)
    staff.user_permissions.add(Permission.objects.get(codename="add_purchase"))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the permission cache

    response = post(staff)

    assert response.status_code == 200
    assert b"Dry run" in response.content
    assert b"purchases imported:   1" in response.content
    assert b"<td>3</td><td>unknown store code &#x27;nowhere&#x27;</td>" in response.content
    assert Purchase.objects.count() == 0


def test_bulk_codes_are_valid_and_distinct():
    numbers = codes.new_member_numbers(5000)
    assert len(set(numbers)) > 4990
    assert all(codes.is_valid_member_number(n) for n in numbers)
    tokens = codes.new_qr_tokens(1000)
    assert all(len(t) == 22 and codes.token_from_payload(codes.qr_payload(t)) == t for t in tokens)
    referrals = codes.new_referral_codes(1000)
    assert all(len(r) == 8 and set(r) <= set(codes._REFERRAL_ALPHABET) for r in referrals)


def test_other_databases_are_refused_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(DomainError, match="needs PostgreSQL"):
        run(write_csv(tmp_path))


def test_console_links_the_import_page_from_the_purchase_list(client, db):
    from members.models import User

    client.force_login(
        User.objects.create_superuser(email="boss@example.com", password="x-12345678")
    )
    page = client.get("/admin/pos/purchase/").content.decode()
    assert "/admin/pos/purchase/import/" in page
    assert client.get("/admin/pos/purchase/import/").status_code == 200


def test_emails_are_checked_with_the_forms_validator(member, stores, tmp_path):
    bad = [
        "ada@localhost.",
        "ada@b",
        "ada@exa_mple.com",
        ".ada@example.com",
        "ada..lovelace@example.com",
        "ada@example..com",
        "ada@-example.com",
        "ada@b.example\u200b",  # a zero-width space: Django's validator lets it through
        "ada\u200d@example.com",
        "ada@exam\u202eple.com",  # a bidi override
    ]
    path = write_csv(
        tmp_path,
        f"G-1,new.person@example.com,,,{day(10)},antwerp,10.00,EUR",  # line 2: good
        *(f"B-{i},{email},,,{day(10)},antwerp,1.00,EUR" for i, email in enumerate(bad)),
        f"B-X,ada@b,,,{day(10)},paris,1.00,EUR",  # the first failing reason is the e-mail
    )
    report = run(path)
    reasons = {r.line: r.reason for r in report.rejections}
    assert reasons == {
        **{3 + i: f"invalid e-mail '{email}'" for i, email in enumerate(bad)},
        3 + len(bad): "invalid e-mail 'ada@b'",
    }
    assert report.purchases_imported == 1
    assert not Member.objects.filter(email__in=bad).exists()
