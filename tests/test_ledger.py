import pytest
from django.db import IntegrityError, transaction

from loyalty.kernel.errors import Conflict, DomainError, InsufficientCarats
from members.models import LedgerEntry, Member
from members.services import ledger_post
from tests.helpers import assert_balance_matches_ledger, run_in_threads


def credit(member, carats, key):
    return ledger_post(member=member, carats=carats, kind="bonus", reason="test", key=key)


def test_credit_and_debit_move_balance_with_the_ledger(member):
    credit(member, 300, "a")
    ledger_post(member=member, carats=-120, kind="redemption", reason="gift", key="b")
    member.refresh_from_db()
    assert member.balance == 180
    assert list(member.ledger.order_by("id").values_list("balance_after", flat=True)) == [300, 180]
    assert_balance_matches_ledger(member)


def test_replayed_key_books_once(member):
    first = credit(member, 50, "same-key")
    again = credit(member, 50, "same-key")
    assert first.created and not again.created
    assert again.entry.pk == first.entry.pk
    member.refresh_from_db()
    assert member.balance == 50
    assert LedgerEntry.objects.filter(member=member).count() == 1


def test_replayed_key_with_other_amount_is_a_conflict(member):
    credit(member, 50, "k")
    with pytest.raises(Conflict):
        credit(member, 60, "k")
    member.refresh_from_db()
    assert member.balance == 50


def test_debit_beyond_balance_is_refused_and_changes_nothing(member):
    credit(member, 10, "c")
    with pytest.raises(InsufficientCarats):
        ledger_post(member=member, carats=-11, kind="redemption", reason="too much", key="d")
    member.refresh_from_db()
    assert member.balance == 10
    assert not LedgerEntry.objects.filter(key="d").exists()


@pytest.mark.parametrize("carats", [0, 1.5, True])
def test_carats_must_be_a_non_zero_integer(member, carats):
    with pytest.raises(DomainError):
        ledger_post(member=member, carats=carats, kind="bonus", reason="x", key="bad")


def test_database_refuses_a_negative_balance_even_without_the_service(member):
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.filter(pk=member.pk).update(balance=-1)


def test_database_refuses_editing_a_ledger_entry_key_twice(member):
    credit(member, 5, "unique")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            member=member, carats=5, kind="bonus", reason="dup", key="unique", balance_after=5
        )


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_debits_against_ten_leave_exactly_ten(program):
    from campaigns.services import member_enroll

    member = member_enroll(email="race@example.com")
    credit(member, 100, "fund")

    def debit(i):
        return ledger_post(
            member=member, carats=-10, kind="redemption", reason=f"r{i}", key=f"debit-{i}"
        )

    results = run_in_threads(debit, 50)
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientCarats)]
    assert len(ok) == 10
    assert len(refused) == 40
    member.refresh_from_db()
    assert member.balance == 0
    assert_balance_matches_ledger(member)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_replays_of_one_key_book_once(program):
    from campaigns.services import member_enroll

    member = member_enroll(email="replay@example.com")
    results = run_in_threads(lambda i: credit(member, 25, "one-event"), 20)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for r in results if r.created) == 1
    member.refresh_from_db()
    assert member.balance == 25
    assert_balance_matches_ledger(member)
