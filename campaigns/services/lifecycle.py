"""Scheduled program jobs: birthday surprises, carats expiry (with warnings), club
renewal reminders. Each is idempotent and works on sets of members, not per-member tasks."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import BirthdayGift, ClubMembership
from campaigns.services.earning import program
from campaigns.services.messaging import message_claim
from campaigns.services.rewards import voucher_issue_gift
from loyalty.kernel.errors import Conflict, InsufficientCarats, NotFound
from members.models import LedgerEntry, Member
from members.services import ledger_post


def _months_before(at: datetime, months: int) -> datetime:
    year, month = divmod(at.month - 1 - months, 12)
    year += at.year
    month += 1
    day = min(at.day, 28)
    return at.replace(year=year, month=month, day=day)


def birthday_gifts_grant(*, now: datetime | None = None) -> int:
    """Give this year's birthday surprise to members whose birthday is today in their own
    time zone. Runs hourly; the (member, year) claim makes it at most once a year.
    Born on 29 February: the gift comes on 28 February in other years."""
    now = now or timezone.now()
    prog = program()
    if not prog.birthday_carats and not prog.birthday_reward_id:
        return 0
    given = 0
    zones = Member.objects.exclude(birth_date=None).values_list("time_zone", flat=True).distinct()
    for zone in zones:
        today = now.astimezone(ZoneInfo(zone)).date()
        match = Q(birth_date__month=today.month, birth_date__day=today.day)
        if today.month == 2 and today.day == 28 and not _is_leap(today.year):
            match |= Q(birth_date__month=2, birth_date__day=29)
        candidates = (
            Member.objects.filter(match, time_zone=zone)
            .exclude(birthday_gifts__year=today.year)
            .values_list("pk", flat=True)
        )
        for member_id in candidates.iterator(chunk_size=2000):
            given += _give_birthday(member_id=member_id, year=today.year, prog=prog)
    return given


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _give_birthday(*, member_id: int, year: int, prog) -> int:
    member = Member.objects.get(pk=member_id)
    try:
        with transaction.atomic():
            gift = BirthdayGift.objects.create(
                member=member, year=year, carats=prog.birthday_carats
            )
            if prog.birthday_carats:
                ledger_post(
                    member=member,
                    carats=prog.birthday_carats,
                    kind=LedgerEntry.Kind.BIRTHDAY,
                    reason=f"Happy birthday {year}!",
                    key=f"birthday:{member.pk}:{year}",
                )
            if prog.birthday_reward_id:
                gift.voucher = voucher_issue_gift(
                    member=member, reward=prog.birthday_reward, source="birthday"
                )
                gift.save(update_fields=["voucher"])
            message_claim(member=member, trigger="birthday", occasion=f"birthday:{year}")
    except IntegrityError:
        return 0  # claimed by a concurrent run
    return 1


@dataclass(frozen=True)
class ExpiryRun:
    expired_members: int
    expired_carats: int
    warned: int


def _expiring_amounts(*, cutoff: datetime, member_ids=None) -> list[tuple[int, int]]:
    """(member_id, carats) that have expired by `cutoff` under the 'earned' policy.

    FIFO: the oldest carats are spent first, so what expires is what was earned before
    the cutoff minus everything that has left the balance since (spent, returned, or
    expired before). One GROUP BY over the ledger, whatever the number of members (or
    over the ledgers of `member_ids`)."""
    table = LedgerEntry._meta.db_table
    # The cutoff as the ORM stores it (text on SQLite, where `make run` runs the job).
    params = [connection.ops.adapt_datetimefield_value(cutoff)]
    only = ""
    if member_ids is not None and connection.vendor == "postgresql":
        only, params = "WHERE member_id = ANY(%s)", [*params, list(member_ids)]
    elif member_ids is not None:
        ids = list(member_ids)
        only, params = f"WHERE member_id IN ({', '.join(['%s'] * len(ids))})", [*params, *ids]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT member_id, amount FROM (
                SELECT member_id,
                       SUM(CASE WHEN carats > 0 AND occurred_at < %s THEN carats ELSE 0 END)
                     + SUM(CASE WHEN carats < 0 THEN carats ELSE 0 END) AS amount
                FROM {table} {only} GROUP BY member_id
            ) t WHERE amount > 0
            """,  # noqa: S608 - table name from model metadata
            params,
        )
        return cur.fetchall()


def _inactive_amounts(*, cutoff: datetime, member_ids=None) -> list[tuple[int, int]]:
    members = Member.objects.filter(balance__gt=0, last_activity_at__lt=cutoff)
    if member_ids is not None:
        members = members.filter(pk__in=list(member_ids))
    return list(members.values_list("pk", "balance"))


def expiring_amounts(prog, *, at: datetime, member_ids=None) -> list[tuple[int, int]]:
    """(member_id, carats) that the expiry job expires when it runs at `at`, under the
    program's policy. The one calculation behind the expiry and its warnings."""
    if prog.expiry_policy == "none":
        return []
    amounts = _expiring_amounts if prog.expiry_policy == "earned" else _inactive_amounts
    return amounts(cutoff=_months_before(at, prog.expiry_months), member_ids=member_ids)


def expiry_forecast(prog, *, now: datetime, days: int) -> dict[int, tuple[datetime, int]]:
    """For each member whose carats a daily run of the job at now + 1..`days` days would
    expire (nothing else changing): the first such run and what it expires then. Asked
    of `expiring_amounts` itself, day by day, for the members who have anything expiring
    in the window (one statement a day over their ledgers)."""
    left = {m for m, amount in expiring_amounts(prog, at=now + timedelta(days=days)) if amount}
    first: dict[int, tuple[datetime, int]] = {}
    for k in range(1, days + 1):
        if not left:
            break
        at = now + timedelta(days=k)
        for member_id, amount in expiring_amounts(prog, at=at, member_ids=left):
            if amount > 0:
                first[member_id] = (at, int(amount))
                left.discard(member_id)
    return first


def carats_expire(*, now: datetime | None = None) -> ExpiryRun:
    """Expire carats under the program's policy with explicit ledger lines (never below
    zero), and warn members whose carats expire within the warning window (once per
    member, expiry date and amount): the warning names the day the job will expire them
    and how many, from the same calculation (expiry_forecast)."""
    now = now or timezone.now()
    prog = program()
    if prog.expiry_policy == "none":
        return ExpiryRun(0, 0, 0)
    day = now.date().isoformat()
    members = carats = 0
    for member, amount in _with_members(expiring_amounts(prog, at=now)):
        take = min(int(amount), member.balance)
        if take <= 0:
            continue
        try:
            posting = ledger_post(
                member=member,
                carats=-take,
                kind=LedgerEntry.Kind.EXPIRY,
                reason=f"{take} carats expired",
                key=f"expiry:{member.pk}:{day}",
            )
        except (InsufficientCarats, Conflict, NotFound):
            # Spent meanwhile, or today's run already booked another amount (the next
            # run recomputes from the ledger), or the account was erased meanwhile.
            continue
        if not posting.created:
            continue
        members += 1
        carats += take
    warned = 0
    forecast = expiry_forecast(prog, now=now, days=prog.expiry_warning_days)
    for member, (at, amount) in _with_members(list(forecast.items())):
        soon = min(amount, member.balance)
        if member.erased_at or soon <= 0:
            continue
        # The date as the member reads it: the run's day in their own time zone.
        expires_on = at.astimezone(ZoneInfo(member.time_zone)).date()
        if message_claim(
            member=member,
            trigger="carats_expiring",
            occasion=f"expiry:{expires_on.isoformat()}:{soon}",
        ):
            warned += 1
    return ExpiryRun(members, carats, warned)


def _with_members(rows, chunk: int = 2000):
    """(member, amount) pairs, the members fetched in chunks instead of one query each."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        members = Member.objects.in_bulk([member_id for member_id, _ in part])
        for member_id, amount in part:
            if member_id in members:
                yield members[member_id], amount


def club_reminders(*, now: datetime | None = None, days: int = 30) -> int:
    """Remind members whose club membership ends within `days` and who have not renewed."""
    now = now or timezone.now()
    soon = ClubMembership.objects.filter(ends_at__gt=now, ends_at__lte=now + timedelta(days=days))
    sent = 0
    for m in soon.select_related("member").iterator(chunk_size=2000):
        renewed = ClubMembership.objects.filter(
            member=m.member_id, club=m.club_id, started_at__gte=m.ends_at
        ).exists()
        if not renewed and message_claim(
            member=m.member, trigger="club_renewal", occasion=f"club:{m.pk}"
        ):
            sent += 1
    return sent
