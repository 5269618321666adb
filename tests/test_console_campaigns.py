"""The console for people who run campaigns: pickers instead of typed codes, recurring
windows on the sale's path, the "what would this sale earn" simulator (nothing written),
and the segment builder's groups and live count."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.forms import EarningRuleForm
from campaigns.models import Award, Club, EarningRule, Segment, SegmentCondition
from campaigns.recurrence import recurs_at
from campaigns.segments import segment_members, segment_reach
from members.models import LedgerEntry, Member
from pos.models import Purchase
from pos.services import purchase_record
from tiers.models import Tier

BRUSSELS = ZoneInfo("Europe/Brussels")


def local(y, m, d, h=12, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=BRUSSELS)


def window(**kw):
    kw.setdefault("weekdays", "")
    kw.setdefault("month_week", None)
    kw.setdefault("yearly_from", None)
    kw.setdefault("yearly_until", None)
    return lambda at: recurs_at(at=at, **kw)


# --- recurring windows ------------------------------------------------------------------------


def test_weekly_window_is_decided_in_the_program_time_zone():
    weekend = window(repeat="weekly", weekdays="5,6")
    assert weekend(local(2026, 12, 5))  # a Saturday
    assert weekend(local(2026, 12, 6, 23, 30))  # Sunday night
    assert not weekend(local(2026, 12, 4, 23, 59))  # Friday
    # 23:30 UTC on Friday is already Saturday in Brussels
    assert weekend(datetime(2026, 12, 4, 23, 30, tzinfo=ZoneInfo("UTC")))
    # 23:30 UTC on Sunday is Monday in Brussels
    assert not weekend(datetime(2026, 12, 6, 23, 30, tzinfo=ZoneInfo("UTC")))


def test_monthly_window_nth_and_last_weekday():
    first_monday = window(repeat="monthly", weekdays="0", month_week=1)
    assert first_monday(local(2026, 12, 7))
    assert not first_monday(local(2026, 12, 14))
    assert not first_monday(local(2026, 12, 1))  # a Tuesday
    last_friday = window(repeat="monthly", weekdays="4", month_week=5)
    assert last_friday(local(2026, 12, 25))
    assert not last_friday(local(2026, 12, 18))
    assert last_friday(local(2027, 2, 26))  # February's last Friday


def test_yearly_window_and_over_the_new_year():
    valentine = window(
        repeat="yearly", yearly_from=date(2000, 2, 8), yearly_until=date(2000, 2, 14)
    )
    assert valentine(local(2027, 2, 8, 0, 1)) and valentine(local(2031, 2, 14, 23, 59))
    assert not valentine(local(2027, 2, 15)) and not valentine(local(2027, 2, 7, 23, 59))
    holidays = window(
        repeat="yearly", yearly_from=date(2000, 12, 20), yearly_until=date(2001, 1, 6)
    )
    assert holidays(local(2026, 12, 31)) and holidays(local(2027, 1, 6))
    assert not holidays(local(2027, 1, 7)) and not holidays(local(2026, 12, 19))


def _last(weekday: int) -> date:
    """The last `weekday` (0 = Monday) before today."""
    day = timezone.localdate() - timedelta(days=1)
    while day.weekday() != weekday:
        day -= timedelta(days=1)
    return day


@pytest.mark.parametrize("path", ["sql", "orm"])
def test_weekend_campaign_on_the_sale_path(path, member, antwerp, monkeypatch):
    if path == "orm":
        monkeypatch.setattr("loyalty.kernel.hot_sql.available", lambda: False)
    EarningRule.objects.create(
        name="Weekend x2 (internal)",
        multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=30),
        repeat="weekly",
        weekdays="5,6",
    )
    saturday = _last(5)
    friday = saturday - timedelta(days=1)

    def sale(receipt, day):
        when = datetime.combine(day, datetime.min.time(), BRUSSELS).replace(hour=12)
        return purchase_record(
            member=member,
            channel="store",
            store=antwerp,
            receipt_id=receipt,
            amount="100.00",
            currency="EUR",
            occurred_at=when,
        ).carats_awarded

    assert sale("SAT", saturday) == 200
    assert sale("FRI", friday) == 100


# --- pickers: a typo cannot be saved ------------------------------------------------------------


def test_a_store_code_that_does_not_exist_cannot_be_saved(antwerp, tiers):
    rule = EarningRule(name="Antwerp x2", multiplier=Decimal("2"), store_codes="Antwerpen")
    with pytest.raises(ValidationError) as err:
        rule.full_clean()
    assert "Antwerpen" in str(err.value.message_dict["store_codes"])
    rule.store_codes, rule.channels = " antwerp ", "store,fax"
    with pytest.raises(ValidationError) as err:
        rule.full_clean()
    assert list(err.value.message_dict) == ["channels"]
    rule.channels = "store"
    rule.full_clean()
    assert rule.store_codes == "antwerp"


def test_the_rule_form_offers_the_stores_and_refuses_a_typo(antwerp, london, tiers):
    data = {
        "name": "Weekend",
        "active": "on",
        "priority": "100",
        "starts_at": "2026-12-01 00:00:00",
        "repeat": "weekly",
        "weekdays": ["5", "6"],
        "multiplier": "2",
        "bonus_carats": "0",
        "store_codes": ["antwerp"],
        "channels": ["store"],
        "min_amount_eur": "0",
        "cap_period": "forever",
    }
    form = EarningRuleForm(data=data)
    assert dict(form.fields["store_codes"].choices) == {
        "antwerp": "Carat Antwerp (antwerp)",
        "london": "Carat London (london)",
    }
    assert form.is_valid(), form.errors
    saved = form.save()
    assert (saved.store_codes, saved.channels, saved.weekdays) == ("antwerp", "store", "5,6")
    form = EarningRuleForm(data={**data, "store_codes": ["Antwerpen"]})
    assert not form.is_valid() and "store_codes" in form.errors
    form = EarningRuleForm(data={**data, "weekdays": []})
    assert not form.is_valid() and "weekdays" in form.errors


# --- the simulator ---------------------------------------------------------------------------


def _counts():
    return (
        Purchase.objects.count(),
        LedgerEntry.objects.count(),
        Award.objects.count(),
        list(Member.objects.order_by("pk").values_list("balance", "purchase_count")),
        list(EarningRule.objects.order_by("pk").values_list("carats_given", flat=True)),
    )


@pytest.mark.parametrize("path", ["sql", "orm"])
def test_simulator_explains_and_writes_nothing(
    path, marketing, client, member, antwerp, monkeypatch
):
    if path == "orm":
        monkeypatch.setattr("loyalty.kernel.hot_sql.available", lambda: False)
    rule = EarningRule.objects.create(
        name="Weekend x2 (internal)",
        multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=30),
        repeat="weekly",
        weekdays="5,6",
        store_codes="antwerp",
        budget_carats=1000,
    )
    url = reverse("admin:campaigns_earningrule_simulate", args=[rule.pk])
    assert client.get(url).status_code == 200
    before = _counts()
    saturday = _last(5)
    data = {
        "member": member.pk,
        "amount": "100.00",
        "currency": "EUR",
        "channel": "store",
        "store": antwerp.pk,
        "date": saturday.isoformat(),
        "time": "12:00",
        "lines": "rings, R-1, 60, 1\nearrings, E-2, 40",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    result = response.context["result"]
    assert result.carats == 200
    assert result.lines == ["100 for 100.00 EUR", "Weekend x2 (internal) +100"]
    assert "Weekend x2 (internal) +100" in response.content.decode()
    on_friday = client.post(url, {**data, "date": (saturday - timedelta(days=1)).isoformat()})
    assert on_friday.context["result"].carats == 100
    assert _counts() == before  # nothing written
    bad = client.post(url, {**data, "amount": "-5"})
    assert bad.status_code == 200 and bad.context["result"] is None
    far = client.post(url, {**data, "date": "0001-01-01"})
    assert far.status_code == 200 and far.context["result"] is None
    assert _counts() == before


# --- segments ---------------------------------------------------------------------------------


def _definition(*groups):
    return json.dumps({"groups": [list(g) for g in groups]})


def _cond(field, value="", negate=False):
    return {"field": field, "value": value, "negate": negate}


def test_groups_are_or_and_conditions_in_a_group_are_and(enroll):
    a = enroll(country="BE", email_opt_in=True)
    b = enroll(country="NL", email_opt_in=True)
    enroll(country="FR", email_opt_in=False)
    seg = Segment.objects.create(name="BE or NL with consent")
    for group, (field, value) in enumerate([("country", "be"), ("country", "nl")]):
        SegmentCondition.objects.create(segment=seg, group=group, field=field, value=value)
        SegmentCondition.objects.create(
            segment=seg, group=group, field="email_consent", value="yes"
        )
    assert set(segment_members(seg)) == {a, b}
    assert segment_reach(seg.conditions.all()) == {"members": 2, "email": 2, "sms": 0}


def test_the_reach_is_one_query(enroll, django_assert_num_queries):
    enroll(country="BE", email_opt_in=True)
    seg = Segment.objects.create(name="Belgians or club members")
    SegmentCondition.objects.create(segment=seg, group=0, field="country", value="be")
    SegmentCondition.objects.create(segment=seg, group=1, field="store", value="antwerp")
    SegmentCondition.objects.create(segment=seg, group=1, field="club", value="Pearl club")
    conditions = list(seg.conditions.all())
    with django_assert_num_queries(1) as ctx:
        reach = segment_reach(conditions)
    assert reach == {"members": 1, "email": 1, "sms": 0}
    sql = ctx.captured_queries[0]["sql"].upper()
    assert sql.count("COUNT(") == 3 and ("FILTER" in sql or "CASE WHEN" in sql)


def test_live_count_follows_each_condition(marketing, client, enroll):
    Member.objects.all().delete()
    enroll(country="BE", email_opt_in=True, sms_opt_in=True, phone="+32470000001")
    enroll(country="BE", email_opt_in=False)
    enroll(country="NL", email_opt_in=True)
    url = reverse("admin:campaigns_segment_count")

    def count(definition):
        response = client.post(url, {"definition": definition})
        return response.status_code, response.json()

    assert count(_definition()) == (200, {"members": 3, "email": 2, "sms": 1})
    assert count(_definition([_cond("country", "BE")])) == (
        200,
        {"members": 2, "email": 1, "sms": 1},
    )
    be_consent = [_cond("country", "BE"), _cond("email_consent", "yes")]
    assert count(_definition(be_consent))[1]["members"] == 1
    assert count(_definition(be_consent, [_cond("country", "NL")]))[1]["members"] == 2
    # a tier that does not exist, a value that does not read, a field that is not one
    status, body = count(_definition([_cond("tier", "platinum-typo")]))
    assert status == 400 and "platinum-typo" in body["error"]
    assert count(_definition([_cond("balance_min", "lots")]))[0] == 400
    assert count(_definition([_cond("password", "x")]))[0] == 400
    assert count("{not json")[0] == 400
    assert client.get(url).status_code == 405


def test_the_count_is_for_staff_who_may_see_segments(client, console_user, db):
    url = reverse("admin:campaigns_segment_count")
    assert client.post(url, {"definition": ""}).status_code == 302  # to the console's log-in
    client.force_login(console_user("Store manager"))
    assert client.post(url, {"definition": ""}).status_code == 403


def test_the_builder_saves_groups_and_refuses_a_typo(marketing, client, tiers):
    gold = Tier.objects.order_by("rank").last()
    Club.objects.create(name="Pearl club", cost_carats=100, duration_days=365)
    add = reverse("admin:campaigns_segment_add")
    definition = _definition(
        [_cond("tier", gold.code), _cond("email_consent", "yes")],
        [_cond("club", "Pearl club")],
    )
    response = client.post(add, {"name": "Gold or pearls", "definition": definition})
    assert response.status_code == 302, response.context["adminform"].form.errors
    seg = Segment.objects.get(name="Gold or pearls")
    assert sorted(seg.conditions.values_list("group", "field", "value")) == [
        (0, "email_consent", "yes"),
        (0, "tier", gold.code),
        (1, "club", "Pearl club"),
    ]
    change = reverse("admin:campaigns_segment_change", args=[seg.pk])
    typo = _definition([_cond("club", "Perl club")])
    response = client.post(change, {"name": "Gold or pearls", "definition": typo})
    assert response.status_code == 200  # the form again, with the error
    assert seg.conditions.count() == 3  # unchanged
    assert json.loads(client.get(change).context["adminform"].form.initial["definition"]) == (
        json.loads(definition)
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_any_segments_into_one_group_per_condition():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("campaigns", "0014_variants_after_mail_layout")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    OldSegment = apps.get_model("campaigns", "Segment")
    OldCondition = apps.get_model("campaigns", "SegmentCondition")
    any_of = OldSegment.objects.create(name="BE or NL", match="any")
    all_of = OldSegment.objects.create(name="BE with consent", match="all")
    for seg, pairs in (
        (any_of, [("country", "be"), ("country", "nl")]),
        (all_of, [("country", "be"), ("email_consent", "yes")]),
    ):
        for field, value in pairs:
            OldCondition.objects.create(segment=seg, field=field, value=value)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate(executor.loader.graph.leaf_nodes())
        groups = dict(
            (name, sorted(Segment.objects.get(name=name).conditions.values_list("group", "value")))
            for name in ("BE or NL", "BE with consent")
        )
        assert groups == {
            "BE or NL": [(0, "be"), (1, "nl")],
            "BE with consent": [(0, "be"), (0, "yes")],
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
