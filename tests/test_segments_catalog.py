"""Segment conditions on what members bought: categories (ever, within N days), never a
category, SKUs; on a hand-made set of members whose right answer is known."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Category, Segment, SegmentCondition
from campaigns.segments import segment_members
from campaigns.services.catalog import products_upsert
from loyalty.console.privacy import member_erase_all
from loyalty.kernel.errors import DomainError
from pos.services import purchase_record


@pytest.fixture
def people(enroll):
    for code in ("rings", "earrings", "necklaces"):
        Category.objects.create(code=code, name=code.title())
    products_upsert(
        [
            {"sku": "R-1", "name": "Ring", "category": "rings", "price": "100.00"},
            {"sku": "E-1", "name": "Studs", "category": "earrings", "price": "50.00"},
            {"sku": "N-1", "name": "Chain", "category": "necklaces", "price": "80.00"},
        ]
    )
    receipts = iter(range(1000))

    def buys(member, *skus, days_ago=1, category=""):
        purchase_record(
            member=member,
            channel="online",
            store=None,
            currency="EUR",
            receipt_id=f"S-{next(receipts)}",
            amount=f"{10 * len(skus)}.00",
            occurred_at=timezone.now() - timedelta(days=days_ago),
            max_age=timedelta(days=400),
            lines=[{"sku": s, "category": category, "amount": "10.00"} for s in skus],
        )

    p = {
        name: enroll(first_name=name)
        for name in (
            "rings_only",
            "rings_and_earrings",
            "earrings_only",
            "nothing",
            "necklace_only",
            "unknown_sku_ring",
            "old_ring",
            "ring_then_earring_later",
            "erased_ring",
        )
    }
    buys(p["rings_only"], "R-1")
    buys(p["rings_only"], "R-1", "N-1", days_ago=10)
    buys(p["rings_and_earrings"], "R-1", "E-1")
    buys(p["earrings_only"], "E-1")
    buys(p["necklace_only"], "N-1")
    buys(p["unknown_sku_ring"], "R-UNKNOWN", category="Rings")  # the till's category
    buys(p["old_ring"], "R-1", days_ago=200)
    buys(p["ring_then_earring_later"], "R-1", days_ago=100)
    buys(p["ring_then_earring_later"], "E-1", days_ago=5)
    buys(p["erased_ring"], "R-1")
    member_erase_all(member=p["erased_ring"], source="console", reason="request")
    return p


def names(people, *conditions):
    """The members of a segment whose conditions (one group) must all be met."""
    seg = Segment.objects.create(name=f"s{Segment.objects.count()}")
    for field, value in conditions:
        negate = field.startswith("not ")
        SegmentCondition.objects.create(
            segment=seg, field=field.removeprefix("not "), value=value, negate=negate, group=0
        )
    ids = set(segment_members(seg).values_list("pk", flat=True))
    return {name for name, m in people.items() if m.pk in ids}


def test_bought_rings_never_earrings(people):
    assert names(people, ("bought_category", "rings"), ("never_category", "earrings")) == {
        "rings_only",
        "unknown_sku_ring",
        "old_ring",
    }


def test_bought_category_within_n_days_and_never_within(people):
    assert names(people, ("bought_category", "rings:90")) == {
        "rings_only",
        "rings_and_earrings",
        "unknown_sku_ring",
    }
    assert names(people, ("bought_category", "rings, necklaces:30")) == {
        "rings_only",
        "rings_and_earrings",
        "necklace_only",
        "unknown_sku_ring",
    }
    # Bought rings, but no earrings in the last 30 days.
    assert names(people, ("bought_category", "rings"), ("never_category", "earrings:30")) == {
        "rings_only",
        "unknown_sku_ring",
        "old_ring",
    }


def test_bought_sku_and_negation(people):
    assert names(people, ("bought_sku", "E-1")) == {
        "rings_and_earrings",
        "earrings_only",
        "ring_then_earring_later",
    }
    assert names(people, ("not bought_sku", "R-1"), ("bought_category", "earrings, necklaces")) == {
        "earrings_only",
        "necklace_only",
    }
    # "never" is the negation of "bought": the same members either way.
    assert names(people, ("never_category", "rings")) == names(
        people, ("not bought_category", "rings")
    )


@pytest.mark.parametrize("value", ["", "rings:soon", "rings:0", "rings:99999", ",".join("x" * 21)])
def test_bad_values_are_refused(people, value):
    with pytest.raises(DomainError):
        names(people, ("bought_category", value))
