from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.kernel.errors import Conflict, DomainError, MissingRate, NotFound, UnknownCurrency
from members.models import LedgerEntry
from members.services import ledger_post
from pos.models import Purchase, Return
from pos.services import purchase_record, return_record
from tests.factories import make_rate
from tests.helpers import assert_balance_matches_ledger, run_in_threads

# Every test here runs through both versions of the earn path's statements.
pytestmark = pytest.mark.usefixtures("sale_path")


def sale(member, store, receipt="R1", amount="100.00", currency=None, **kw):
    return purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency=currency or store.currency,
        **kw,
    )


def test_gbp_purchase_earns_floor_of_eur_at_the_rate_valid_on_its_date(member, london):
    now = timezone.now()
    make_rate("GBP", "1.100000", days_ago=100)
    make_rate("GBP", "1.200000", days_ago=10)
    # 100.99 GBP on a date when 1 GBP = 1.10 EUR -> 111.09 EUR -> 111 carats
    old = sale(member, london, "L-OLD", "100.99", occurred_at=now - timedelta(days=50))
    assert old.purchase.rate_to_eur == Decimal("1.100000")
    assert old.purchase.amount_eur == Decimal("111.09")
    assert old.carats_awarded == 111
    # the same amount today, at 1.20 -> 121.19 EUR (rounded half up) -> 121 carats
    new = sale(member, london, "L-NEW", "100.99")
    assert new.purchase.amount_eur == Decimal("121.19")
    assert new.carats_awarded == 121
    member.refresh_from_db()
    assert member.balance == 111 + 121
    assert member.purchase_count == 2
    assert member.lifetime_spend_eur == Decimal("232.28")
    assert member.first_purchase_at == old.purchase.occurred_at
    assert_balance_matches_ledger(member)


def test_replayed_receipt_awards_once_and_returns_the_first_result(member, antwerp):
    first = sale(member, antwerp, "A-1", "250.00")
    again = sale(member, antwerp, "A-1", "250.00")
    assert first.created and not again.created
    assert again.purchase.pk == first.purchase.pk
    assert (again.carats_awarded, again.balance) == (250, 250)
    assert Purchase.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 250
    assert member.purchase_count == 1


def test_same_receipt_with_different_data_is_a_conflict(member, antwerp):
    sale(member, antwerp, "A-2", "250.00")
    with pytest.raises(Conflict):
        sale(member, antwerp, "A-2", "260.00")
    member.refresh_from_db()
    assert member.balance == 250


def test_same_receipt_number_in_another_store_is_another_sale(member, antwerp, london, gbp):
    sale(member, antwerp, "X-1", "10.00")
    sale(member, london, "X-1", "10.00")
    assert Purchase.objects.count() == 2


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        ("-5.00", "EUR", DomainError),
        ("0", "EUR", DomainError),
        ("abc", "EUR", DomainError),
        ("1.001", "EUR", DomainError),
        ("NaN", "EUR", DomainError),
        (1.5, "EUR", DomainError),
        ("10.00", "XYZ", UnknownCurrency),
        ("10.00", "eu", UnknownCurrency),
    ],
)
def test_bad_sales_are_refused_and_change_nothing(member, antwerp, amount, currency, error):
    with pytest.raises(error):
        sale(member, antwerp, "BAD", amount, currency)
    assert not Purchase.objects.exists()
    member.refresh_from_db()
    assert (member.balance, member.purchase_count) == (0, 0)


def test_missing_rate_on_the_sale_date_is_a_clear_error(member, london):
    make_rate("GBP", "1.17", days_ago=5)
    with pytest.raises(MissingRate):
        sale(member, london, "OLD", "10.00", occurred_at=timezone.now() - timedelta(days=30))
    assert not Purchase.objects.exists()


def test_future_dated_sale_beyond_tolerance_is_refused(member, antwerp):
    with pytest.raises(DomainError):
        sale(member, antwerp, "F", "10.00", occurred_at=timezone.now() + timedelta(hours=2))
    sale(member, antwerp, "F2", "10.00", occurred_at=timezone.now() + timedelta(minutes=2))


def test_return_reverses_in_proportion(member, antwerp):
    sale(member, antwerp, "S-1", "300.00")
    r1 = return_record(
        channel="store", store=antwerp, receipt_id="S-1", return_id="RT-1", amount="100.00"
    )
    assert r1.carats_reversed == 100
    r2 = return_record(
        channel="store", store=antwerp, receipt_id="S-1", return_id="RT-2", amount="200.00"
    )
    assert r2.carats_reversed == 200
    member.refresh_from_db()
    assert member.balance == 0
    assert member.lifetime_spend_eur == Decimal("0.00")
    assert_balance_matches_ledger(member)


def test_partial_returns_never_reverse_more_than_was_earned(member, antwerp):
    sale(member, antwerp, "S-3", "10.00")  # 10 carats
    for i in range(3):
        return_record(
            channel="store", store=antwerp, receipt_id="S-3", return_id=f"P{i}", amount="3.33"
        )
    last = return_record(
        channel="store", store=antwerp, receipt_id="S-3", return_id="P3", amount="0.01"
    )
    total = sum(Return.objects.values_list("carats_reversed", flat=True))
    assert total == 10
    assert last.balance == 0
    assert_balance_matches_ledger(member)


def test_return_larger_than_the_sale_is_refused(member, antwerp):
    sale(member, antwerp, "S-4", "100.00")
    return_record(channel="store", store=antwerp, receipt_id="S-4", return_id="A", amount="60.00")
    with pytest.raises(DomainError) as exc:
        return_record(
            channel="store", store=antwerp, receipt_id="S-4", return_id="B", amount="40.01"
        )
    assert exc.value.code == "return_too_large"
    member.refresh_from_db()
    assert member.balance == 40


def test_return_never_takes_the_balance_below_zero(member, antwerp):
    sale(member, antwerp, "S-5", "100.00")
    ledger_post(member=member, carats=-80, kind="redemption", reason="gift", key="spend")
    ret = return_record(
        channel="store", store=antwerp, receipt_id="S-5", return_id="R", amount="100.00"
    )
    assert ret.carats_reversed == 20
    assert ret.ret.carats_unrecovered == 80
    member.refresh_from_db()
    assert member.balance == 0
    assert_balance_matches_ledger(member)


def test_replayed_return_changes_nothing_and_unknown_receipt_is_not_found(member, antwerp):
    sale(member, antwerp, "S-6", "100.00")
    first = return_record(
        channel="store", store=antwerp, receipt_id="S-6", return_id="R", amount="50.00"
    )
    again = return_record(
        channel="store", store=antwerp, receipt_id="S-6", return_id="R", amount="50.00"
    )
    assert first.created and not again.created
    with pytest.raises(Conflict):
        return_record(
            channel="store", store=antwerp, receipt_id="S-6", return_id="R", amount="20.00"
        )
    with pytest.raises(NotFound):
        return_record(
            channel="store", store=antwerp, receipt_id="NOPE", return_id="R", amount="1.00"
        )
    member.refresh_from_db()
    assert member.balance == 50


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_replaying_one_receipt_award_once(enroll, antwerp):
    member = enroll(email="threads@example.com")
    results = run_in_threads(lambda i: sale(member, antwerp, "T-1", "420.00"), 20)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sum(1 for r in results if r.created) == 1
    assert {r.balance for r in results} == {420}
    member.refresh_from_db()
    assert member.balance == 420
    assert member.purchase_count == 1
    assert LedgerEntry.objects.filter(member=member, kind="purchase").count() == 1
    assert_balance_matches_ledger(member)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_returns_cannot_exceed_the_sale(enroll, antwerp):
    member = enroll(email="returns@example.com")
    sale(member, antwerp, "T-2", "100.00")
    results = run_in_threads(
        lambda i: return_record(
            channel="store", store=antwerp, receipt_id="T-2", return_id=f"R{i}", amount="30.00"
        ),
        10,
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    assert len(ok) == 3
    member.refresh_from_db()
    assert member.balance == 10
    assert_balance_matches_ledger(member)


def test_a_return_for_the_scanned_member_refuses_another_members_receipt(member, enroll, antwerp):
    other = enroll()
    sale(other, antwerp, "O-1", "100.00")
    with pytest.raises(DomainError) as exc:
        return_record(
            channel="store",
            store=antwerp,
            receipt_id="O-1",
            return_id="R",
            amount="10.00",
            member=member,
        )
    assert exc.value.code == "other_member"
    assert not Return.objects.exists()
