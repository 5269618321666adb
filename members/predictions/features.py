"""Each buyer's history as the models read it: order days x (repeats), t_x, T and the
mean repeat order value, in one set-based statement.

An order is counted as the dashboard's rollups count it (loyalty.console.rollup): a sale
not fully returned, net of its returns, several on one local day (CARAT_TIME_ZONE) being
one visit. The sales are written by the pos app: they are read here by the relation's
table names, so this layer imports nothing from above it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from members.models import Member


@dataclass
class Features:
    member_id: np.ndarray
    x: np.ndarray  # repeat order days
    t_x: np.ndarray  # days from the first order day to the last
    T: np.ndarray  # days from the first order day to the scoring day
    m: np.ndarray  # mean net value of the repeat order days (0 without one)

    def __len__(self) -> int:
        return len(self.member_id)

    def take(self, index) -> Features:
        return Features(*(getattr(self, f)[index] for f in ("member_id", "x", "t_x", "T", "m")))


def _tables() -> tuple[str, str]:
    purchase = Member._meta.get_field("purchases").related_model
    ret = purchase._meta.get_field("returns").related_model
    q = connection.ops.quote_name
    return q(purchase._meta.db_table), q(ret._meta.db_table)


FEATURES_SQL = """
WITH ret AS (
    SELECT purchase_id, SUM(amount) AS amount, SUM(amount_eur) AS eur
    FROM {ret} GROUP BY purchase_id
), days AS (
    SELECT p.member_id, (p.occurred_at AT TIME ZONE %(zone)s)::date AS day,
           SUM(p.amount_eur - COALESCE(r.eur, 0)) AS net
    FROM {purchase} p
    LEFT JOIN ret r ON r.purchase_id = p.id
    WHERE p.occurred_at < %(now)s AND (r.purchase_id IS NULL OR r.amount < p.amount)
    GROUP BY 1, 2
)
SELECT d.member_id,
       COUNT(*) - 1 AS x,
       MAX(d.day) - MIN(d.day) AS t_x,
       %(today)s::date - MIN(d.day) AS t,
       CASE WHEN COUNT(*) > 1
            THEN ((SUM(d.net) - (ARRAY_AGG(d.net ORDER BY d.day))[1]) / (COUNT(*) - 1))::float8
            ELSE 0 END AS m
FROM days d
JOIN {member} mb ON mb.id = d.member_id AND mb.erased_at IS NULL
GROUP BY d.member_id
"""


def member_features(*, now: datetime | None = None) -> Features:
    """Every buyer's features as of `now` (sales after it are left out)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if connection.vendor == "postgresql":
        purchase, ret = _tables()
        sql = FEATURES_SQL.format(
            purchase=purchase, ret=ret, member=connection.ops.quote_name(Member._meta.db_table)
        )
        with connection.cursor() as cur:
            cur.execute(sql, {"zone": settings.TIME_ZONE, "now": now, "today": today})
            rows = cur.fetchall()
    else:
        rows = _features_orm(now, today)
    return _arrays(rows)


def _arrays(rows) -> Features:
    if not rows:
        empty = np.zeros(0)
        return Features(np.zeros(0, dtype=np.int64), empty, empty, empty, empty)
    ids, x, t_x, t, m = zip(*rows, strict=True)
    f = np.asarray
    return Features(
        f(ids, dtype=np.int64),
        f(x, dtype=np.float64),
        f(t_x, dtype=np.float64),
        f(t, dtype=np.float64),
        f(m, dtype=np.float64),
    )


def _features_orm(now: datetime, today: date) -> list[tuple]:
    """The same for other databases (SQLite in the demo): the ORM's rows, grouped here."""
    purchases = Member._meta.get_field("purchases").related_model
    returned: dict[int, tuple[Decimal, Decimal]] = {}
    for r in purchases._meta.get_field("returns").related_model.objects.values_list(
        "purchase_id", "amount", "amount_eur"
    ):
        a, e = returned.get(r[0], (Decimal(0), Decimal(0)))
        returned[r[0]] = (a + r[1], e + r[2])
    by_member: dict[int, dict[date, Decimal]] = {}
    rows = purchases.objects.filter(
        occurred_at__lt=now, member__erased_at__isnull=True
    ).values_list("id", "member_id", "occurred_at", "amount", "amount_eur")
    for pid, member_id, at, amount, eur in rows.iterator():
        back_amount, back_eur = returned.get(pid, (Decimal(0), Decimal(0)))
        if back_amount >= amount:
            continue
        day = timezone.localdate(at)
        days = by_member.setdefault(member_id, {})
        days[day] = days.get(day, Decimal(0)) + eur - back_eur
    out = []
    for member_id, days in by_member.items():
        ordered = sorted(days)
        x = len(ordered) - 1
        m = float(sum(days[d] for d in ordered[1:]) / x) if x else 0.0
        out.append((member_id, x, (ordered[-1] - ordered[0]).days, (today - ordered[0]).days, m))
    return out
