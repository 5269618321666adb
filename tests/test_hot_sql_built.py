"""Model instances filled in without __init__ where the sale knows every column (its
member's row, the purchase it wrote), and the configuration cache's time read once.
They must be the same instances the ORM would build."""

import pytest
from django.db import connection
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from loyalty.kernel import config, hot_sql
from members.models import Member
from members.selectors import MEMBER_COLUMNS, member_from_row
from pos.models import Purchase


def _row(member):
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {MEMBER_COLUMNS}, 42 FROM members_member m WHERE m.id = %s",  # noqa: S608
            [member.pk],
        )
        return cur.fetchone()


@pytest.mark.postgresql  # rows of hand-written SQL are read on PostgreSQL only
@pytest.mark.django_db
def test_a_member_from_a_row_equals_the_orm_member_and_saves_as_an_update(member):
    built = member_from_row(_row(member))  # the trailing column is not the member's
    loaded = Member.objects.get(pk=member.pk)
    for field in Member._meta.concrete_fields:
        assert getattr(built, field.attname) == getattr(loaded, field.attname), field.name
    assert not built._state.adding and built._state.db == "default"
    built.first_name = "Augusta"
    with CaptureQueriesContext(connection) as ctx:
        built.save(update_fields=["first_name"])
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["UPDATE"]
    assert Member.objects.get(pk=member.pk).first_name == "Augusta"


def test_a_built_purchase_carries_its_related_objects_without_queries(member, antwerp):
    values = {f.attname: None for f in Purchase._meta.concrete_fields}
    values.update(id=7, member_id=member.pk, store_id=antwerp.pk, receipt_id="R-1")
    with CaptureQueriesContext(connection) as ctx:
        purchase = hot_sql.built(Purchase, values, member=member, store=antwerp, recorded_by=None)
        assert purchase.member is member and purchase.store is antwerp
        assert purchase.recorded_by is None
    assert ctx.captured_queries == []
    assert purchase.pk == 7 and purchase.receipt_id == "R-1" and not purchase._state.adding


def test_built_falls_back_to_the_constructor_when_it_must(member, antwerp):
    # Missing values: the constructor fills in the defaults.
    partial = hot_sql.built(Purchase, {"id": 9, "member_id": member.pk, "receipt_id": "R-2"})
    assert partial.carats_awarded == 0 and partial.carats_status == "credited"
    assert partial.pk == 9 and not partial._state.adding
    # A post_init receiver must see the instance: the constructor runs.
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(receiver, sender=Purchase)
    hot_sql._PLAIN_FIELDS.clear()
    try:
        values = {f.attname: None for f in Purchase._meta.concrete_fields}
        values.update(id=8, member_id=member.pk)
        purchase = hot_sql.built(Purchase, values)
    finally:
        signals.post_init.disconnect(receiver, sender=Purchase)
        hot_sql._PLAIN_FIELDS.clear()
    assert seen == [purchase]


def test_the_cache_time_follows_the_setting(settings):
    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    assert config.ttl() == 60
    settings.CARAT_CONFIG_CACHE_SECONDS = 0
    assert config.ttl() == 0
