"""The hourly rollup run is incremental (loyalty.console.rollup_delta): after any mix of
new and late-dated sales, returns, ledger bookings, erasures, tier moves and new members,
its rollups equal a full rebuild's, row for row and field by field; and a sale that
commits while a run reads is counted by the next run, never lost."""

# ruff: noqa: F811 - the fixtures imported from test_kpis are (re)named as arguments

import random
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from loyalty.console.models import KpiRollupMark, KpiSalesDay
from loyalty.console.privacy import member_erase_all
from loyalty.console.rollup import kpi_rollup_build
from loyalty.console.rollup_delta import kpi_rollup_refresh
from members.models import Member, User
from members.services import ledger_adjust
from pos.models import Purchase
from tests.test_kpis import LATER, at, book, give_back, sale, travel  # noqa: F401 - fixtures
from tests.test_kpis_rollup_parallel import contents
from tiers.models import MemberTier
from tiers.services import tier_invite, tier_revoke, tiers_evaluate_all

pytestmark = pytest.mark.postgresql  # the rollup job runs on PostgreSQL only


class _Undo(Exception):
    pass


def full_rebuild_contents() -> dict:
    """What a full rebuild would write now, without keeping it (a savepoint)."""
    try:
        with transaction.atomic():
            kpi_rollup_build()
            result = contents()
            raise _Undo
    except _Undo:
        return result


class RandomBook:
    """Random changes to the book, from a fixed seed."""

    def __init__(self, book, stores, tiers, enroll, seed=28):
        self.rng = random.Random(seed)
        self.stores, self.tiers, self.enroll = stores, tiers, enroll
        self.boss = User.objects.get(email="boss@carat.example")
        self.n = 0

    def members(self):
        return list(Member.objects.filter(erased_at__isnull=True).order_by("pk"))

    def _sale(self, when, occurred):
        rng = self.rng
        store = rng.choice([*self.stores, None])
        self.n += 1
        sale(
            rng.choice(self.members()),
            occurred,
            f"{rng.randint(10, 900)}.00",
            store=store,
            channel="store" if store else "online",
            currency=store.currency if store else "EUR",
            receipt=f"X{self.n}",
        )

    def change(self, when):
        rng, self.n = self.rng, self.n + 1
        kind = rng.choice(
            ["sale", "sale", "late sale", "late sale", "return", "adjust", "erase", "tier",
             "enrol"]
        )  # fmt: skip
        with travel(when):
            if kind == "sale":
                self._sale(when, when - timedelta(minutes=rng.randint(0, 50)))
            elif kind == "late sale":  # dated months back: days long counted change
                self._sale(when, when - timedelta(days=rng.randint(1, 700)))
            elif kind == "return":
                bought = list(
                    Purchase.objects.filter(
                        store__currency="EUR", member__erased_at__isnull=True, returns=None
                    ).order_by("pk")
                )
                p = rng.choice(bought)
                amount = p.amount if rng.random() < 0.5 else (p.amount / 2).quantize(Decimal("1"))
                give_back(
                    when, store=p.store, receipt=p.receipt_id, amount=str(amount),
                    return_id=f"R{self.n}",
                )  # fmt: skip
            elif kind == "adjust":
                ledger_adjust(
                    member=rng.choice(self.members()), carats=rng.choice([-5, 25, 70]),
                    reason="Correction", actor=self.boss, key=f"adjust:{self.n}",
                )  # fmt: skip
            elif kind == "erase":
                member_erase_all(
                    member=rng.choice(self.members()), source="console", actor=self.boss,
                    reason="Asked to be forgotten",
                )  # fmt: skip
            elif kind == "tier":
                self._tier(when)
            else:
                referrer = rng.choice(self.members())
                self.enroll(joined_at=when, referral_code=referrer.referral_code)
        return kind

    def _tier(self, when):
        rng, ambassador = self.rng, self.tiers["ambassador"]
        member = rng.choice(self.members())
        status = MemberTier.objects.get(member=member)
        if status.tier_id == ambassador.pk:
            tier_revoke(member=member, actor=self.boss, note="Season over")
        elif rng.random() < 0.5:
            tier_invite(member=member, tier=ambassador, actor=self.boss, note="Hosts a dinner")
        else:
            tiers_evaluate_all(now=when)


@pytest.fixture
def random_book(book, antwerp, london, tiers, enroll):
    with travel(LATER):
        kpi_rollup_build()
    return RandomBook(book, [antwerp, london], tiers, enroll)


def test_incremental_runs_equal_a_full_rebuild_after_random_changes(random_book):
    seen = set()
    when = LATER
    for _ in range(8):  # hours, each with a few changes, then the hourly run
        when += timedelta(hours=1)
        seen |= {random_book.change(when) for _ in range(random_book.rng.randint(1, 5))}
        with travel(when + timedelta(minutes=5)):
            run = kpi_rollup_refresh()
            assert run.rows["touched_members"] > 0  # incremental, not a rebuild
            expected = full_rebuild_contents()
        got = contents()
        for table, rows in expected.items():
            assert got[table] == rows, (table, seen)
    assert seen >= {"sale", "late sale", "return", "adjust", "erase", "tier", "enrol"}


def test_an_hour_without_changes_touches_nothing(random_book):
    before = contents()
    with travel(LATER + timedelta(hours=1)):
        run = kpi_rollup_refresh()
    assert run.rows["touched_members"] == 0
    assert contents() == before


def test_without_state_the_run_is_a_full_build(book):
    with travel(LATER):
        run = kpi_rollup_refresh()  # nothing kept yet: no mark, no state
    assert "touched_members" not in run.rows and run.rows["sales_days"] > 0
    with connection.cursor() as cur:  # a crash empties the unlogged state tables
        cur.execute("TRUNCATE loyalty_kpistate_m, loyalty_kpistate_od, loyalty_kpistate_lm")
    with travel(LATER + timedelta(hours=1)):
        run = kpi_rollup_refresh()
    assert "touched_members" not in run.rows
    assert contents() == full_rebuild_contents()


def _gross(day) -> Decimal:
    return sum((r.gross_eur for r in KpiSalesDay.objects.filter(day=day)), Decimal(0))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("settles", [False, True], ids=["run-goes-on", "run-waits"])
def test_a_sale_committing_during_a_run_is_counted_by_a_run(book, antwerp, settings, settles):
    """Sale A takes its id first and commits last; sale B, a later id, commits before the
    run reads. A watermark at the highest id the run saw would skip A for ever. The run
    waits a moment for transactions open when it read its marks: if A commits meanwhile
    the run counts it; if not, the mark stays open and the next run counts A."""
    with travel(LATER):
        kpi_rollup_build()
    when = LATER + timedelta(days=10)
    holding, go, done = threading.Event(), threading.Event(), {}

    def sale_a():
        try:
            with transaction.atomic():
                done["a"] = sale(book["eve"], when, "111.00", store=antwerp, receipt="A-open")
                holding.set()
                go.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=sale_a)
    thread.start()
    assert holding.wait(10)
    b = sale(book["bob"], when, "222.00", store=antwerp, receipt="B-first")
    assert b.pk > done["a"].pk
    settings.CARAT_KPI_ROLLUP_SETTLE_SECONDS = 30 if settles else 0.2
    if settles:
        threading.Timer(0.5, go.set).start()  # A commits while the run waits
    with travel(when + timedelta(hours=1)):
        kpi_rollup_refresh()
    mark = KpiRollupMark.objects.order_by("-taken_at").first()
    assert mark.hi["purchase"] >= b.pk > done["a"].pk
    day = when.date()
    if settles:
        assert mark.settled and _gross(day) == Decimal("333.00")
    else:
        assert not mark.settled and _gross(day) == Decimal("222.00")  # A not committed yet
        go.set()
    thread.join(10)
    with travel(when + timedelta(hours=2)):
        run = kpi_rollup_refresh()
    # Not settled: eve (the sale the run could not see) and bob again (the start stays).
    assert run.rows["touched_members"] == (0 if settles else 2)
    assert _gross(day) == Decimal("333.00")
    incremental = contents()
    with travel(when + timedelta(hours=2)):
        kpi_rollup_build()
    assert contents() == incremental
