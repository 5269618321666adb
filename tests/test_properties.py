"""Property-based tests (hypothesis) of the money and carat invariants.

(a) currency: pos.services.parse_amount and to_eur work in Decimal only, with 2 decimals,
    monotonic in the amount, and refuse floats, NaN/Infinity, zero, negatives and more than
    2 decimals;
(b) proportional returns: for any sale and any sequence of partial returns (with spending
    and releases of pending carats in between), the carats taken back never exceed the
    carats awarded, equal them exactly once the sale is fully returned, and the balance is
    always the sum of the ledger and never negative;
(c) the ledger: any sequence of credits and debits through members.services.ledger_post
    keeps balance == sum(ledger) >= 0; a debit larger than the balance raises
    InsufficientCarats and changes nothing.

The database tests share one test transaction across the examples of a test (the `db`
fixture is function-scoped), so every example works on its own fresh member (unique
e-mail) and its own receipt numbers."""

import itertools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from campaigns.models import HeldCarats, Program
from campaigns.services import held_release, member_enroll
from loyalty.kernel.errors import DomainError, InsufficientCarats
from members.models import LedgerEntry, Member
from members.services import ledger_post
from pos.models import Purchase, Return
from pos.services import MAX_AMOUNT, parse_amount, purchase_record, return_record, to_eur
from tests.factories import StoreFactory, make_program, make_rate

CENT = Decimal("0.01")
PURE = settings(max_examples=60, deadline=None)
DB = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The main invariants get the full 60 examples, the secondary ones 40.
DB_MAIN = settings(DB, max_examples=60)

_unique = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_unique)}"


# --- strategies -------------------------------------------------------------------------

# Valid amounts: 0.01 .. MAX_AMOUNT, exactly 2 decimals.
cents = st.integers(min_value=1, max_value=int(MAX_AMOUNT * 100))
amounts = cents.map(lambda c: Decimal(c) / 100)
small_amounts = st.integers(min_value=1, max_value=5_000_00).map(lambda c: Decimal(c) / 100)
# Exchange rates as stored (14 digits, 6 decimals, > 0).
rates = st.integers(min_value=1, max_value=99_999_999_999_999).map(
    lambda n: Decimal(n) / Decimal(10**6)
)
realistic_rates = st.integers(min_value=1_000, max_value=50_000_000).map(
    lambda n: Decimal(n) / Decimal(10**6)
)


def as_text(amount: Decimal, style: int) -> str:
    """The ways a client may legitimately write a valid amount."""
    fixed = f"{amount:.2f}"
    if style == 0:
        return fixed
    if style == 1:
        return f"  {fixed}\t"
    if style == 2:  # fewer decimals when they are zero: "12.5", "12"
        return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
    return fixed + "0"  # "12.500": numerically two decimals


# --- (a) currency -------------------------------------------------------------------------


@PURE
@given(amount=amounts, style=st.integers(0, 3))
def test_parse_amount_accepts_valid_strings_and_returns_2_decimal_decimals(amount, style):
    parsed = parse_amount(as_text(amount, style))
    assert type(parsed) is Decimal
    assert parsed == amount
    assert parsed.as_tuple().exponent == -2


@PURE
@given(amount=amounts)
def test_parse_amount_accepts_decimals_unchanged(amount):
    assert parse_amount(amount) == amount
    assert parse_amount(amount).as_tuple().exponent == -2


@PURE
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_parse_amount_refuses_every_float(value):
    with pytest.raises(DomainError) as exc:
        parse_amount(value)
    assert "decimal strings" in exc.value.message


@PURE
@given(
    value=st.sampled_from(
        ["NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-inf", "+Inf"]
    ),
    pad=st.sampled_from(["", " ", "\n"]),
)
def test_parse_amount_refuses_nan_and_infinity(value, pad):
    with pytest.raises(DomainError):
        parse_amount(pad + value + pad)


@PURE
@given(c=st.integers(min_value=0, max_value=10**12))
def test_parse_amount_refuses_zero_and_negative(c):
    value = Decimal(c) / 100
    for text in (f"-{value:.2f}", f"{-value:.2f}"):
        with pytest.raises(DomainError):
            parse_amount(text)
    if c == 0:
        for text in ("0", "0.00", "-0", "+0.0", "0e5"):
            with pytest.raises(DomainError):
                parse_amount(text)


@PURE
@given(
    whole=st.integers(min_value=0, max_value=10**9),
    extra=st.integers(min_value=1, max_value=10**6),
    digits=st.integers(min_value=3, max_value=9),
)
def test_parse_amount_refuses_more_than_2_decimals(whole, extra, digits):
    fraction = str(extra).rjust(digits, "0")[-digits:]
    assume(fraction[2:].strip("0"))  # a non-zero digit after the second decimal
    with pytest.raises(DomainError):
        parse_amount(f"{whole}.{fraction}")


@PURE
@given(excess=st.integers(min_value=1, max_value=10**6))
def test_parse_amount_refuses_amounts_above_the_maximum(excess):
    with pytest.raises(DomainError):
        parse_amount(str(MAX_AMOUNT + Decimal(excess) / 100))


@PURE
@given(text=st.text(alphabet="0123456789.,-+eE nNaIify_", max_size=14))
@example(text="1,5")
@example(text="1_000")
@example(text="")
def test_parse_amount_only_ever_returns_a_valid_amount_or_a_domain_error(text):
    try:
        big = Decimal(text.strip()).is_finite() and Decimal(text.strip()).adjusted() >= 27
    except (InvalidOperation, ValueError):
        big = False
    assume(not big)  # amounts of 28+ digits: see the xfail test below
    try:
        parsed = parse_amount(text)
    except DomainError:
        return
    assert type(parsed) is Decimal
    assert Decimal("0.01") <= parsed <= MAX_AMOUNT
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize("text", ["1e30", "1" + "0" * 29, "9" * 28 + ".99"])
def test_parse_amount_refuses_huge_amounts_with_a_domain_error(text):
    with pytest.raises(DomainError):
        parse_amount(text)


@PURE
@given(amount=amounts, rate=rates)
def test_to_eur_is_decimal_with_2_decimals_and_rounds_half_up(amount, rate):
    eur = to_eur(amount, rate)
    assert type(eur) is Decimal
    assert eur.as_tuple().exponent == -2
    exact = amount * rate
    assert abs(eur - exact) <= Decimal("0.005")
    assert eur == exact.quantize(CENT, rounding=ROUND_HALF_UP)


@PURE
@given(a=amounts, b=amounts, rate=rates)
def test_to_eur_is_monotonic_in_the_amount(a, b, rate):
    low, high = sorted((a, b))
    assert to_eur(low, rate) <= to_eur(high, rate)


@PURE
@given(amount=small_amounts, rate=realistic_rates)
def test_to_eur_of_an_eur_rate_of_one_is_the_identity_and_scales(amount, rate):
    assert to_eur(amount, Decimal("1")) == amount
    assert to_eur(amount, Decimal("1.000000")) == amount
    # Proportional: converting twice the amount is twice the conversion, within a cent.
    assert abs(to_eur(amount * 2, rate) - 2 * to_eur(amount, rate)) <= CENT


@PURE
@given(amount=st.floats(min_value=0.01, max_value=1e9), rate=realistic_rates)
def test_to_eur_refuses_floats_instead_of_going_through_them(amount, rate):
    with pytest.raises(TypeError):
        to_eur(amount, rate)
    with pytest.raises(TypeError):
        to_eur(Decimal("10.00"), float(rate))


# --- (b) proportional returns ---------------------------------------------------------------


def _setup_world(*, carats_per_eur: str, pending_days: int):
    make_program(carats_per_eur=carats_per_eur)
    Program.objects.filter(pk=1).update(pending_days=pending_days)
    store = StoreFactory(code="antwerp", name="Carat Antwerp", currency="EUR")
    return store


def assert_ledger_consistent(member: Member) -> int:
    member.refresh_from_db()
    total = LedgerEntry.objects.filter(member=member).aggregate(s=Sum("carats"))["s"] or 0
    assert member.balance == total
    assert member.balance >= 0
    return member.balance


def _returned_carats(purchase: Purchase) -> int:
    sums = Return.objects.filter(purchase=purchase).aggregate(
        r=Sum("carats_reversed"), c=Sum("carats_cancelled"), u=Sum("carats_unrecovered")
    )
    return (sums["r"] or 0) + (sums["c"] or 0) + (sums["u"] or 0)


# One step between returns: a partial return (weight of what is left), spending part of
# the balance, or releasing the pending carats (end of the return window).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("return"), st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("spend"), st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("release"), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@DB_MAIN
@given(
    sale=st.integers(min_value=1, max_value=2_000_000).map(lambda c: Decimal(c) / 100),
    plan=steps,
    finish=st.booleans(),
    carats_per_eur=st.sampled_from(["1", "1.5", "0.1", "3"]),
    pending_days=st.sampled_from([0, 0, 14]),
)
def test_returns_take_back_carats_in_proportion_and_never_more(
    sale, plan, finish, carats_per_eur, pending_days
):
    store = _setup_world(carats_per_eur=carats_per_eur, pending_days=pending_days)
    member = member_enroll(email=unique("prop-ret-") + "@example.com")
    receipt = unique("R")
    result = purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=f"{sale:.2f}",
        currency="EUR",
    )
    purchase = result.purchase
    awarded = purchase.carats_awarded
    assert awarded >= 0
    assert_ledger_consistent(member)

    returned = Decimal("0")
    spent_key = 0
    for action, weight in plan:
        left = sale - returned
        if action == "return":
            if left <= 0:
                continue
            part = max((left * weight / 100).quantize(CENT), CENT)
            part = min(part, left)
            return_record(
                channel="store",
                store=store,
                receipt_id=receipt,
                return_id=unique("RT"),
                amount=f"{part:.2f}",
            )
            returned += part
        elif action == "spend":
            balance = assert_ledger_consistent(member)
            amount = balance * weight // 100
            if amount:
                spent_key += 1
                ledger_post(
                    member=member,
                    carats=-amount,
                    kind=LedgerEntry.Kind.REDEMPTION,
                    reason="spent",
                    key=unique("spend:"),
                )
        else:
            for held in HeldCarats.objects.filter(key=f"purchase:{purchase.pk}"):
                held_release(held=held)
        taken = _returned_carats(purchase)
        assert 0 <= taken <= awarded
        assert_ledger_consistent(member)
        # Cumulative rounding: what was taken back is floor(awarded x returned share).
        assert taken == min(int(awarded * returned / sale), awarded)

    if finish and sale - returned > 0:
        return_record(
            channel="store",
            store=store,
            receipt_id=receipt,
            return_id=unique("RT"),
            amount=f"{sale - returned:.2f}",
        )
        returned = sale
    taken = _returned_carats(purchase)
    assert taken <= awarded
    if returned == sale:
        assert taken == awarded
    balance = assert_ledger_consistent(member)
    # Nothing of this sale stays on the balance once it is fully returned (spending aside).
    if returned == sale:
        held_left = (
            HeldCarats.objects.filter(
                key=f"purchase:{purchase.pk}", status__in=["held", "pending"]
            ).aggregate(s=Sum("carats"))["s"]
            or 0
        )
        assert held_left == 0
        assert balance == 0


@pytest.mark.django_db
@DB
@given(
    sale=st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c) / 100),
    over=st.integers(min_value=1, max_value=10_000).map(lambda c: Decimal(c) / 100),
)
def test_a_return_beyond_what_is_left_is_refused_and_changes_nothing(sale, over):
    store = _setup_world(carats_per_eur="1", pending_days=0)
    member = member_enroll(email=unique("prop-over-") + "@example.com")
    receipt = unique("R")
    purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=f"{sale:.2f}",
        currency="EUR",
    )
    before = (assert_ledger_consistent(member), Return.objects.count())
    with pytest.raises(DomainError) as exc:
        return_record(
            channel="store",
            store=store,
            receipt_id=receipt,
            return_id=unique("RT"),
            amount=f"{sale + over:.2f}",
        )
    assert exc.value.code == "return_too_large"
    assert (assert_ledger_consistent(member), Return.objects.count()) == before


@pytest.mark.django_db
@DB
@given(sale=small_amounts, rate=realistic_rates)
def test_a_foreign_currency_sale_is_converted_at_the_stored_rate(sale, rate):
    make_program()
    store = StoreFactory(code="london", name="Carat London", currency="GBP")
    # One rate per test run: the rate valid at the sale is the latest one.
    make_rate("GBP", f"{rate}", days_ago=1)
    member = member_enroll(email=unique("prop-fx-") + "@example.com")
    result = purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=unique("FX"),
        amount=f"{sale:.2f}",
        currency="GBP",
    )
    purchase = result.purchase
    purchase.refresh_from_db()
    assert purchase.amount_eur == to_eur(sale, purchase.rate_to_eur)
    assert purchase.amount_eur.as_tuple().exponent == -2
    assert_ledger_consistent(member)


# --- (c) the ledger -----------------------------------------------------------------------


@pytest.mark.django_db
@DB_MAIN
@given(
    moves=st.lists(
        st.integers(min_value=-5_000, max_value=5_000).filter(bool), min_size=1, max_size=20
    )
)
def test_ledger_balance_is_always_the_sum_and_never_negative(moves):
    make_program()
    member = member_enroll(email=unique("prop-led-") + "@example.com")
    expected = assert_ledger_consistent(member)
    for carats in moves:
        entries = LedgerEntry.objects.filter(member=member).count()
        kind = LedgerEntry.Kind.BONUS if carats > 0 else LedgerEntry.Kind.REDEMPTION
        if carats < 0 and -carats > expected:
            with pytest.raises(InsufficientCarats):
                ledger_post(member=member, carats=carats, kind=kind, reason="p", key=unique("led:"))
            # Nothing changed: no entry, same balance.
            assert LedgerEntry.objects.filter(member=member).count() == entries
        else:
            posting = ledger_post(
                member=member, carats=carats, kind=kind, reason="p", key=unique("led:")
            )
            expected += carats
            assert posting.created
            assert posting.entry.balance_after == expected
            assert LedgerEntry.objects.filter(member=member).count() == entries + 1
        assert assert_ledger_consistent(member) == expected


@pytest.mark.django_db
@DB
@given(
    balance=st.integers(min_value=0, max_value=10_000),
    excess=st.integers(min_value=1, max_value=10_000),
)
def test_a_debit_larger_than_the_balance_raises_and_changes_nothing(balance, excess):
    make_program()
    member = member_enroll(email=unique("prop-over-") + "@example.com")
    if balance:
        ledger_post(member=member, carats=balance, kind="bonus", reason="p", key=unique("led:"))
    before = list(LedgerEntry.objects.filter(member=member).values_list("pk", "balance_after"))
    with pytest.raises(InsufficientCarats):
        ledger_post(
            member=member,
            carats=-(balance + excess),
            kind=LedgerEntry.Kind.REDEMPTION,
            reason="too much",
            key=unique("led:"),
        )
    assert list(LedgerEntry.objects.filter(member=member).values_list("pk", "balance_after")) == (
        before
    )
    assert assert_ledger_consistent(member) == balance


@pytest.mark.django_db
@DB
@given(carats=st.integers(min_value=1, max_value=10_000), replays=st.integers(1, 4))
def test_a_replayed_ledger_key_books_once(carats, replays):
    make_program()
    member = member_enroll(email=unique("prop-key-") + "@example.com")
    key = unique("once:")
    for i in range(replays + 1):
        posting = ledger_post(member=member, carats=carats, kind="bonus", reason="p", key=key)
        assert posting.created == (i == 0)
    assert assert_ledger_consistent(member) == carats


@pytest.mark.django_db
@DB
@given(value=st.one_of(st.just(0), st.booleans(), st.floats(), st.decimals(), st.text()))
def test_ledger_post_refuses_non_integers_and_zero(value):
    assume(not (isinstance(value, int) and not isinstance(value, bool) and value != 0))
    make_program()
    member = member_enroll(email=unique("prop-bad-") + "@example.com")
    with pytest.raises(DomainError):
        ledger_post(member=member, carats=value, kind="bonus", reason="p", key=unique("bad:"))
    assert assert_ledger_consistent(member) == 0
