"""StrictSerializer.plain_validated, the API's shortcut past DRF's per-request copy of
the declared fields, must give exactly what the serializer gives, or step aside.

Every input of a corpus (valid payloads and, for each field, the values clients get
wrong) goes both ways: where the shortcut answers, the serializer must accept the input
with the same validated data; where the serializer refuses it, the shortcut must not
answer (the serializer then words the 400)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from pos import serializers as s

VALID = {
    s.PurchaseSerializer: [
        {
            "member": "CARAT1:abc",
            "store": "antwerp",
            "receipt_id": "R-1",
            "amount": "129.90",
            "currency": "EUR",
        },
        {
            "member": " 4477127825 ",
            "channel": "online",
            "receipt_id": "W-9",
            "amount": "5",
            "currency": "usd",
            "occurred_at": "2026-06-01T14:30:00+02:00",
        },
        {
            "member": "4477127825",
            "store": "antwerp",
            "receipt_id": "R-2",
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": None,
        },
    ],
    s.ReturnSerializer: [
        {"store": "antwerp", "receipt_id": "R-1", "return_id": "X-1", "amount": "49.90"},
        {"channel": "online", "receipt_id": "W-9", "return_id": "X-2", "amount": "1"},
    ],
    s.RedemptionSerializer: [{"reward": 3}],
    s.ClubJoinSerializer: [{"club": 1}],
    s.VoucherRedeemSerializer: [{"store": "antwerp"}, {}],
    s.EventSerializer: [{"member": "CARAT1:abc", "type": "review", "reference": "p-12"}],
    s.PurchaseLineSerializer: [
        {
            "sku": "RING-1",
            "category": "rings",
            "quantity": 2,
            "amount": "40.00",
            "service_guarantee": True,
        },
        {"sku": "RING-2", "amount": "1", "category": ""},
    ],
}

WRONG = [
    None,
    "",
    "   ",
    "  padded  ",
    0,
    12,
    -3,
    12.5,
    True,
    False,
    [],
    {},
    ["a"],
    "x" * 300,
    "store",
    "online",
    "sms",
    "review",
    "2026-06-01T14:30:00",
    "2026-06-01T14:30:00+02:00",
    "not a date",
    "12",
    "12.5",
    "1e3",
    # text the fields take apart: a NUL, a surrogate, other non-ASCII, the length limits
    "a\x00b",
    "\ud800",
    "Zoë",
    "\tR-1",
    "R-1\n",
    "x" * 8,
    "x" * 9,
    "x" * 16,
    "x" * 17,
    "x" * 64,
    "x" * 65,
    "x" * 80,
    "x" * 81,
]


def corpus(cls):
    for base in VALID[cls]:
        yield base
        for name in cls._declared_fields:
            yield {k: v for k, v in base.items() if k != name}
            for value in WRONG:
                yield {**base, name: value}
        yield {**base, "unknown": 1}
        yield {**base, "lines": [{"sku": "A", "amount": "1"}]}
    yield from ([], "text", 12, None)


@pytest.mark.parametrize("cls", list(VALID), ids=lambda c: c.__name__)
def test_shortcut_gives_what_the_serializer_gives(cls):
    answered = refused = 0
    for data in corpus(cls):
        serializer = cls(data=data)
        valid = serializer.is_valid()
        fast = cls.plain_validated(data)
        if fast is None:
            refused += not valid
            continue
        answered += 1
        assert valid, (data, serializer.errors)
        assert fast == dict(serializer.validated_data), data
    # the shortcut is taken for the common input and refuses nothing on its own
    assert answered >= len(VALID[cls])
    assert refused > 0 or cls in (s.VoucherRedeemSerializer,)


@pytest.mark.parametrize("cls", list(VALID), ids=lambda c: c.__name__)
def test_valid_payloads_take_the_shortcut(cls):
    for data in VALID[cls]:
        assert cls.plain_validated(data) is not None, data


def test_the_shortcut_keeps_the_fields_own_conversions():
    data = VALID[s.PurchaseSerializer][1]  # padded member, an offset datetime
    fast = s.PurchaseSerializer.plain_validated(data)
    assert fast["member"] == "4477127825"  # trimmed
    assert fast["occurred_at"].utcoffset() is not None
    assert fast["occurred_at"] == timezone.datetime.fromisoformat("2026-06-01T12:30:00+00:00")


def test_classes_with_checks_of_their_own_are_left_to_the_serializer():
    # validate_country on the member serializers: the shortcut must not skip it
    data = {"email": "a@example.com", "country": "be"}
    assert s.MemberCreateSerializer.plain_validated(data) is None
    serializer = s.MemberCreateSerializer(data=data)
    assert serializer.is_valid() and serializer.validated_data["country"] == "BE"


def test_nested_input_goes_to_the_serializer():
    data = {**VALID[s.PurchaseSerializer][0], "lines": [{"sku": "A", "amount": "1"}]}
    assert s.PurchaseSerializer.plain_validated(data) is None


def test_concurrent_use_of_the_shared_fields_gives_each_caller_its_own_result():
    from concurrent.futures import ThreadPoolExecutor

    base = VALID[s.PurchaseSerializer][0]

    def one(n):
        data = {**base, "receipt_id": f"R-{n}", "amount": f"{n}.50"}
        return s.PurchaseSerializer.plain_validated(data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(2000)))
    assert [(r["receipt_id"], r["amount"]) for r in results] == [
        (f"R-{n}", Decimal(f"{n}.50")) for n in range(2000)
    ]


def test_a_class_with_a_field_default_is_left_to_the_serializer():
    from rest_framework import serializers

    class WithDefault(s.StrictSerializer):
        name = serializers.CharField()
        flag = serializers.BooleanField(default=True)

    serializer = WithDefault(data={"name": "x"})
    assert serializer.is_valid() and serializer.validated_data == {"name": "x", "flag": True}
    assert WithDefault.plain_validated({"name": "x"}) is None
