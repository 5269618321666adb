"""Uplift: what an experiment (a trigger, a broadcast, a bonus rule or a challenge with a
control group) caused, honestly measured.

Who is in which group is what was recorded when it happened, never recomputed: the message
log's rows (a held-out row for the control group), the bonus rule's awards (a held-out
award of 0 carats), the challenge's enrolments (a held-out enrolment). A member counts
once, from their first exposure, in the group recorded then: intention to treat (a treated
member whose mail was capped or bounced stays treated, as a held-out member would have been
capped too). Only members whose N days have passed are counted, so every member is
followed for the full window.

Per group, one set-based query (grouped by group): members, buyers within N days (a
purchase after the exposure, before returns), revenue, the sum of squares of revenue per
member (for its variance) and the carats the experiment gave. The statistics:
- conversion difference: two-proportion z interval (unpooled standard error), 95 %;
- revenue per member difference: Welch's interval (unequal variances, the t quantile of
  the Welch-Satterthwaite degrees of freedom), 95 %;
- the rule for "too small to tell": an expected count (buyers or non-buyers, at the
  pooled rate) under 10 in either group; otherwise "not significant" when the conversion
  interval includes zero.
Incremental buyers = conversion difference x treated members; incremental revenue =
revenue difference x treated members; cost per incremental buyer = carats given to the
treated / incremental buyers (only when the effect is significant and positive)."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Broadcast, Challenge, EarningRule, TriggerConfig

Z95 = 1.959963984540054
MIN_EXPECTED = 10
MAX_DAYS = 365
KINDS = {
    "trigger": TriggerConfig,
    "broadcast": Broadcast,
    "rule": EarningRule,
    "challenge": Challenge,
}


@dataclass(frozen=True)
class Arm:
    members: int
    buyers: int
    revenue: Decimal
    revenue_squares: Decimal
    carats: int

    @property
    def conversion(self) -> float:
        return self.buyers / self.members if self.members else 0.0

    @property
    def conversion_percent(self) -> float:
        return 100 * self.conversion

    @property
    def revenue_per_member(self) -> float:
        return float(self.revenue) / self.members if self.members else 0.0

    @property
    def revenue_variance(self) -> float:
        if self.members < 2:
            return 0.0
        n, s, ss = self.members, float(self.revenue), float(self.revenue_squares)
        return max((ss - s * s / n) / (n - 1), 0.0)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def spans_zero(self) -> bool:
        return self.low <= 0 <= self.high

    def percent(self) -> "Interval":
        """The same interval in percentage points (for a difference of proportions)."""
        return Interval(100 * self.estimate, 100 * self.low, 100 * self.high)


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t (Cornish-Fisher expansion around the normal;
    within 0.002 of the exact value from 5 degrees of freedom on)."""
    if not math.isfinite(df) or df > 1e6:
        return Z95
    df = max(df, 1.0)
    z = Z95
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def conversion_interval(treated: Arm, held: Arm) -> Interval:
    """Two-proportion z interval of treated minus held-out conversion (95 %)."""
    p1, p0 = treated.conversion, held.conversion
    se = math.sqrt(p1 * (1 - p1) / treated.members + p0 * (1 - p0) / held.members)
    d = p1 - p0
    return Interval(d, d - Z95 * se, d + Z95 * se)


def revenue_interval(treated: Arm, held: Arm) -> Interval:
    """Welch's interval of treated minus held-out revenue per member (95 %)."""
    a = treated.revenue_variance / treated.members
    b = held.revenue_variance / held.members
    d = treated.revenue_per_member - held.revenue_per_member
    se = math.sqrt(a + b)
    if se == 0:
        return Interval(d, d, d)
    df_den = (a * a / (treated.members - 1) if treated.members > 1 else 0) + (
        b * b / (held.members - 1) if held.members > 1 else 0
    )
    df = (a + b) ** 2 / df_den if df_den else math.inf
    t = t_quantile_975(df)
    return Interval(d, d - t * se, d + t * se)


@dataclass(frozen=True)
class Uplift:
    days: int
    treated: Arm
    held: Arm
    conversion: Interval | None
    revenue: Interval | None
    verdict: str  # "too_small", "not_significant", "significant"
    sentence: str
    incremental_buyers: float | None
    incremental_revenue: float | None
    cost_per_incremental_buyer: float | None


def smallest_expected(treated: Arm, held: Arm) -> float:
    n = treated.members + held.members
    if not treated.members or not held.members:
        return 0.0
    pooled = (treated.buyers + held.buyers) / n
    return min(arm.members * rate for arm in (treated, held) for rate in (pooled, 1 - pooled))


def uplift_from_arms(treated: Arm, held: Arm, *, days: int) -> Uplift:
    """The report's figures and its plain sentence, from the two groups' sums."""
    expected = smallest_expected(treated, held)
    if expected < MIN_EXPECTED or treated.members < 2 or held.members < 2:
        sentence = _(
            "The groups are too small to tell: each group needs at least %(min)s expected "
            "buyers and %(min)s expected non-buyers (here the smallest is %(n)s). Wait for "
            "more members to pass their %(days)s days, or raise the control group."
        ) % {"min": MIN_EXPECTED, "n": f"{expected:.1f}", "days": days}
        return Uplift(days, treated, held, None, None, "too_small", sentence, None, None, None)
    conv = conversion_interval(treated, held)
    rev = revenue_interval(treated, held)
    values = {
        "d": f"{100 * conv.estimate:+.1f}",
        "low": f"{100 * conv.low:+.1f}",
        "high": f"{100 * conv.high:+.1f}",
        "days": days,
    }
    if conv.spans_zero:
        verdict = "not_significant"
        sentence = (
            _(
                "Not significant: the difference in conversion within %(days)s days is "
                "%(d)s points, but the 95 %% interval (%(low)s to %(high)s) includes zero, so "
                "it cannot be told apart from chance."
            )
            % values
        )
    else:
        verdict = "significant"
        if conv.estimate > 0:
            sentence = (
                _(
                    "Significant: treated members bought more often, %(d)s points of "
                    "conversion within %(days)s days (95 %% interval %(low)s to %(high)s)."
                )
                % values
            )
        else:
            sentence = (
                _(
                    "Significant: treated members bought less often, %(d)s points of "
                    "conversion within %(days)s days (95 %% interval %(low)s to %(high)s)."
                )
                % values
            )
    inc_buyers = conv.estimate * treated.members
    inc_revenue = rev.estimate * treated.members
    cost = None
    if verdict == "significant" and inc_buyers > 0 and treated.carats:
        cost = treated.carats / inc_buyers
    return Uplift(days, treated, held, conv, rev, verdict, sentence, inc_buyers, inc_revenue, cost)


# --- the one query per experiment ------------------------------------------------------


def _exposures(kind: str, obj) -> tuple[str, list]:
    """(SQL, params): one row per member of the experiment: member_id, at (first
    exposure), held (1 for the control group), cost (carats given)."""
    if kind in ("trigger", "broadcast"):
        where = "l.broadcast_id = %s" if kind == "broadcast" else "l.trigger = %s"
        gift = obj.gift_carats if kind == "trigger" else 0
        key = obj.pk if kind == "broadcast" else obj.trigger
        # Rows still to be decided (scheduled) are left out in both groups.
        return (
            f"""SELECT l.member_id, MIN(l.due_at) AS at,
                   MAX(CASE WHEN l.status = 'held_out' THEN 1 ELSE 0 END) AS held,
                   SUM(CASE WHEN l.status = 'sent' THEN %s ELSE 0 END) AS cost
              FROM campaigns_messagelog l
             WHERE {where} AND l.status <> 'scheduled' AND l.due_at IS NOT NULL
               AND (l.broadcast_id IS NOT NULL) = %s
             GROUP BY l.member_id""",  # noqa: S608 - fixed SQL, values are parameters
            [gift, key, kind == "broadcast"],
        )
    if kind == "rule":
        return (
            """SELECT a.member_id, MIN(a.occurred_at) AS at,
                   MAX(CASE WHEN a.held_out THEN 1 ELSE 0 END) AS held,
                   SUM(a.carats) AS cost
              FROM campaigns_award a
             WHERE a.earning_rule_id = %s
             GROUP BY a.member_id""",
            [obj.pk],
        )
    return (
        """SELECT e.member_id, e.enrolled_at AS at,
               CASE WHEN e.status = 'held_out' THEN 1 ELSE 0 END AS held,
               e.carats_given AS cost
          FROM campaigns_challengeenrolment e
         WHERE e.challenge_id = %s""",
        [obj.pk],
    )


def _window_end(vendor: str) -> str:
    if vendor == "postgresql":
        return "e.at + make_interval(days => %s)"
    return "datetime(e.at, '+' || %s || ' days')"


def experiment_arms(kind: str, obj, *, days: int, now: datetime | None = None) -> dict:
    """{held: Arm} for the members whose `days` days after exposure have passed: one
    query over the experiment's exposures, grouped by group."""
    now = now or timezone.now()
    exposures, params = _exposures(kind, obj)
    cutoff = connection.ops.adapt_datetimefield_value(now - timedelta(days=days))
    sql = f"""
        WITH e AS ({exposures}),
        per AS (
            SELECT e.member_id, e.held, e.cost,
                   COUNT(p.id) AS purchases, COALESCE(SUM(p.amount_eur), 0) AS revenue
              FROM e
              LEFT JOIN pos_purchase p
                ON p.member_id = e.member_id AND p.occurred_at > e.at
               AND p.occurred_at <= {_window_end(connection.vendor)}
             WHERE e.at <= %s
             GROUP BY e.member_id, e.held, e.cost
        )
        SELECT held, COUNT(*), SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END),
               SUM(revenue), SUM(revenue * revenue), SUM(cost)
          FROM per GROUP BY held
    """  # noqa: S608 - fixed SQL pieces, values are parameters
    arms = {}
    with connection.cursor() as cur:
        cur.execute(sql, [*params, days, cutoff])
        for held, n, buyers, revenue, squares, cost in cur.fetchall():
            arms[bool(held)] = Arm(
                members=int(n),
                buyers=int(buyers or 0),
                revenue=Decimal(str(revenue or 0)),
                revenue_squares=Decimal(str(squares or 0)),
                carats=int(cost or 0),
            )
    return arms


def experiment_uplift(kind: str, obj, *, days: int = 90, now: datetime | None = None) -> Uplift:
    """The uplift report of one experiment (see the module's note)."""
    days = max(1, min(int(days), MAX_DAYS))
    arms = experiment_arms(kind, obj, days=days, now=now)
    empty = Arm(0, 0, Decimal(0), Decimal(0), 0)
    return uplift_from_arms(arms.get(False, empty), arms.get(True, empty), days=days)
