"""Qualifying carats and the tier they reach: the one definition that the sale, the scan,
the nightly job, the tier-at-risk mail and the member's progress all use.

Qualifying carats are the purchase, return and retroactive ledger carats of the rolling
12 months (a return counts at its sale's date: its ledger line's `occurred_at`). The
target tier is the highest-ranked public tier whose threshold they reach."""

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from members.models import LedgerEntry, Member

from .models import Tier

QUALIFYING_KINDS = (
    LedgerEntry.Kind.PURCHASE,
    LedgerEntry.Kind.RETURN,
    LedgerEntry.Kind.RETROACTIVE,
)
# Written into SQL as literals where a statement is prepared once (no list adapted as a
# parameter on every sale): constants of the code, plain words, checked here.
if not all(str(k).isidentifier() for k in QUALIFYING_KINDS):
    raise ValueError("ledger kinds must be plain words")
QUALIFYING_KINDS_SQL = ", ".join(f"'{k}'" for k in QUALIFYING_KINDS)
# The same kinds as placeholders, for statements that pass them as parameters.
QUALIFYING_KINDS_PARAMS = ", ".join(["%s"] * len(QUALIFYING_KINDS))


def qualification_window_start(now: datetime) -> datetime:
    """Rolling 12 months back from `now`."""
    try:
        return now.replace(year=now.year - 1)
    except ValueError:
        return now.replace(year=now.year - 1, day=28)


def qualifying_entries(since: datetime, **member):
    """The ledger lines that count, of the member given as `member=` or `member_id=`."""
    return LedgerEntry.objects.filter(kind__in=QUALIFYING_KINDS, occurred_at__gte=since, **member)


def qualifying_carats(member: Member, *, since: datetime) -> int:
    total = qualifying_entries(since, member=member).aggregate(s=Sum("carats"))["s"]
    return int(total or 0)


def qualifying_subquery(since: datetime) -> Coalesce:
    """The qualifying carats of the outer query's member (`OuterRef("pk")`), 0 if none."""
    sums = (
        qualifying_entries(since, member=OuterRef("pk"))
        .values("member")
        .annotate(s=Sum("carats"))
        .values("s")
    )
    return Coalesce(Subquery(sums, output_field=IntegerField()), 0)


def qualifying_sql(
    *, member: str, since: str, kinds: str = QUALIFYING_KINDS_SQL, indent: str
) -> str:
    """The qualifying carats of the member whose id is the SQL `member`, as a scalar
    subquery (`kinds`: the literals, or QUALIFYING_KINDS_PARAMS)."""
    where = f"WHERE l.member_id = {member} AND l.kind IN ({kinds}) AND l.occurred_at >= {since})"
    return f"(SELECT COALESCE(SUM(l.carats), 0) FROM members_ledgerentry l\n{indent}{where}"  # noqa: S608


def target_tier(tiers: Iterable[Tier], qualifying: int) -> Tier | None:
    """The highest-ranked of the public `tiers` whose threshold `qualifying` reaches."""
    reached = [t for t in tiers if t.threshold <= qualifying]
    return max(reached, key=lambda t: t.rank) if reached else None


def target_tier_bisect(tiers: list[Tier]) -> Callable[[int], Tier]:
    """`target_tier` over `tiers` (lowest rank first) falling back to the entry tier, as a
    bisection over the thresholds (for the nightly job's many members)."""
    by_threshold = sorted(tiers, key=lambda t: (t.threshold, t.rank))
    thresholds, best = [t.threshold for t in by_threshold], []
    for tier in by_threshold:  # the highest rank among the thresholds reached so far
        best.append(tier if not best or tier.rank > best[-1].rank else best[-1])

    def target(qualifying: int) -> Tier:
        i = bisect_right(thresholds, qualifying)
        return best[i - 1] if i else tiers[0]

    return target
