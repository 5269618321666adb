"""CRM reach: trigger e-mails selected by date in each member's time zone, broadcasts to
segments, and one dispatcher that applies consent, priority and the weekly cap.

Exactly once: every mail first claims a MessageLog row, unique per (member, trigger,
occasion) — selection inserts those rows set-based (INSERT ... SELECT ... ON CONFLICT
DO NOTHING), so a job run twice claims nothing new."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import CharField, Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat, TruncDate
from django.utils import timezone

from campaigns import experiments
from campaigns.models import Broadcast, MessageLog, TriggerConfig
from campaigns.segments import segment_members
from campaigns.services.earning import program
from loyalty.kernel import hot_sql
from loyalty.kernel.config import cached
from loyalty.kernel.outbox import enqueue
from members.models import Member
from tiers.models import Tier
from tiers.qualifying import qualification_window_start, qualifying_subquery

from .crm import broadcasts_finish, sending_timeout

# --- selection: which members are due today, per trigger ---------------------------


def _day_range(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


def _month_day(field: str, day: date) -> Q:
    q = Q(**{f"{field}__month": day.month, f"{field}__day": day.day})
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        q |= Q(**{f"{field}__month": 2, f"{field}__day": 29})
    return q


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def due_members(
    cfg: TriggerConfig, *, zone: str, today: date
) -> tuple[QuerySet, str | None] | None:
    """(members due for this trigger today in `zone`, the occasion) or None. Occasion None:
    each member's own (the queryset's `claim_occasion`)."""
    base = Member.objects.filter(time_zone=zone, erased_at__isnull=True)
    t, n = cfg.trigger, cfg.offset_days
    if t == "welcome":
        start, end = _day_range(today - timedelta(days=n), zone)
        return base.filter(joined_at__gte=start, joined_at__lt=end), "welcome"
    if t == "anniversary":
        return (
            base.filter(_month_day("joined_at", today), joined_at__year__lt=today.year),
            f"anniversary:{today.year}",
        )
    if t == "thank_you":
        start, end = _day_range(today - timedelta(days=n), zone)
        return (
            base.filter(last_purchase_at__gte=start, last_purchase_at__lt=end),
            f"thanks:{start.date().isoformat()}",
        )
    if t == "win_back" and cfg.p_alive_below:
        start, end = _day_range(today - timedelta(days=n), zone)
        lapsed = Q(last_purchase_at__gte=start, last_purchase_at__lt=end)
        return _win_back_predicted(base, lapsed, zone=zone, below=cfg.p_alive_below / 100), None
    if t == "win_back":
        start, end = _day_range(today - timedelta(days=n), zone)
        return (
            base.filter(last_purchase_at__gte=start, last_purchase_at__lt=end),
            f"winback:{start.date().isoformat()}",
        )
    if t == "birthday_soon":
        day = today + timedelta(days=n or 7)
        return base.filter(_month_day("birth_date", day)), f"birthday_soon:{day.year}"
    if t == "birthday":
        return base.filter(_month_day("birth_date", today)), f"birthday:{today.year}"
    if t == "wedding":
        if today.day != 1:
            return None
        return (
            base.filter(wedding_anniversary__month=today.month),
            f"wedding:{today.year}",
        )
    if t == "tier_at_risk":
        return _tier_at_risk(base, zone=zone, today=today, days=n or 30)
    return None  # event-driven triggers are scheduled by the code that sees the event


def _win_back_predicted(base, lapsed: Q, *, zone: str, below: float) -> QuerySet:
    """The win-back, whichever comes first: the nightly P(active) below `below` (scored
    after the last purchase: a purchase since makes the score stale), or the fixed days
    (`lapsed`; the backstop for one-time buyers, whom BG/NBD counts as active until they
    buy again, and for members bought since the last scoring). The occasion is the last
    purchase's day in the member's zone, as the fixed-days win-back's: one mail per lapse,
    however it is found."""
    predicted = Q(prediction__p_alive__lt=below, prediction__computed_at__gt=F("last_purchase_at"))
    return base.filter(predicted | lapsed).annotate(
        claim_occasion=Concat(
            Value("winback:"),
            Cast(TruncDate("last_purchase_at", tzinfo=ZoneInfo(zone)), CharField()),
        )
    )


def _tier_at_risk(base, *, zone, today, days):
    """Members whose tier hold ends in `days` days and whose qualifying carats are below
    their tier's threshold: they will drop at the nightly evaluation after that day."""
    start, end = _day_range(today + timedelta(days=days), zone)
    since = qualification_window_start(start)
    threshold = Tier.objects.filter(members__member=OuterRef("pk")).values("threshold")[:1]
    members = (
        base.filter(
            status__hold_until__gte=start,
            status__hold_until__lt=end,
            status__tier__invite_only=False,
            status__tier__threshold__gt=0,
        )
        .annotate(q=qualifying_subquery(since), t=Subquery(threshold))
        .filter(q__lt=F("t"))
    )
    return members, f"tier_at_risk:{start.date().isoformat()}"


def _claim_sql(
    members: QuerySet,
    *,
    trigger: str,
    occasion: str | None,
    marketing: bool,
    priority: int,
    due_at: datetime,
    broadcast_id: int | None = None,
    holdout: tuple[str, int] | None = None,
) -> int:
    """Insert one scheduled MessageLog row per member of `members` that has none for this
    occasion yet. One statement, whatever the number of members. Occasion None: each
    member's own, from the queryset's `claim_occasion`. `holdout` (experiment key,
    percent): the members of its control group get a row that says "held out" instead,
    decided by the experiments' hash in the same statement; the dispatcher never takes
    those rows, so no mail and no gift reaches them."""
    own = occasion is None
    sql, params = members.values("pk", *(["claim_occasion"] if own else [])).query.sql_with_params()
    table = MessageLog._meta.db_table
    # As the ORM stores it (SQLite keeps text: an aware value would not compare with the
    # ORM's own; PostgreSQL takes it as it is).
    at = connection.ops.adapt_datetimefield_value(due_at)
    status, status_params = "'scheduled'", []
    if holdout and holdout[1] > 0:
        key, percent = holdout
        held = experiments.held_out_sql(connection.vendor, "sel.pk", percent)
        status = f"CASE WHEN {held} THEN 'held_out' ELSE 'scheduled' END"
        status_params = [experiments.bucket_prefix(experiments.HOLDOUT, key)]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {table} (member_id, trigger, occasion, broadcast_id, marketing,
                priority, due_at, context, subject, body, status, attempts, error, created_at)
            SELECT sel.pk, %s, {"sel.claim_occasion" if own else "%s"}, %s, %s, %s, %s, %s,
                '', '', {status}, 0, '', %s
            FROM ({sql}) sel WHERE 1 = 1
            ON CONFLICT (member_id, trigger, occasion) DO NOTHING
            """,  # noqa: S608 - the inner SQL is Django's own, values are parameters
            [
                trigger,
                *([] if own else [occasion]),
                broadcast_id,
                marketing,
                priority,
                at,
                "{}",
                *status_params,
                at,
                *params,
            ],
        )
        return max(cur.rowcount, 0)


@dataclass(frozen=True)
class SelectionReport:
    claimed: dict


def triggers_select(*, now: datetime | None = None) -> SelectionReport:
    """Claim today's date-based trigger mails for every time zone (run hourly; a second
    run the same day claims nothing new)."""
    now = now or timezone.now()
    configs = list(TriggerConfig.objects.filter(enabled=True).select_related("segment"))
    zones = list(Member.objects.values_list("time_zone", flat=True).distinct())
    claimed: dict[str, int] = {}
    for cfg in configs:
        for zone in zones:
            today = now.astimezone(ZoneInfo(zone)).date()
            due = due_members(cfg, zone=zone, today=today)
            if due is None:
                continue
            members, occasion = due
            if cfg.segment_id:
                members = members.filter(pk__in=segment_members(cfg.segment, now=now).values("pk"))
            if cfg.marketing:
                members = members.filter(email_opt_in=True)
            n = _claim_sql(
                members,
                trigger=cfg.trigger,
                occasion=occasion,
                marketing=cfg.marketing,
                priority=cfg.priority,
                due_at=now,
                holdout=(experiments.experiment_key("trigger", cfg.pk), cfg.holdout_percent),
            )
            claimed[cfg.trigger] = claimed.get(cfg.trigger, 0) + n
    return SelectionReport(claimed=claimed)


def message_schedule(
    *, member: Member, trigger: str, occasion: str, due_at: datetime, context: dict | None = None
) -> MessageLog | None:
    """Event-driven triggers (service guarantee, basket, tier upgrade): claim a row due
    later. None if the trigger is off or the occasion was claimed already."""
    row = message_row(
        member=member, trigger=trigger, occasion=occasion, due_at=due_at, context=context
    )
    if row is None:
        return None
    # One statement (a sale that upgrades a tier claims its mail here).
    return row if hot_sql.insert(row, unless_exists=True) else None


def message_row(
    *, member: Member, trigger: str, occasion: str, due_at: datetime, context: dict | None = None
) -> MessageLog | None:
    """The unsaved row message_schedule claims (None if the trigger is off): the decision
    as data, for a caller that writes it with other statements (the sale's writer,
    pos.sale_sql; an occasion claimed already is left as it is)."""
    # Read from the configuration cache: a sale that upgrades a tier schedules a mail.
    enabled = cached(
        "enabled_triggers",
        lambda: {c.trigger: c for c in TriggerConfig.objects.filter(enabled=True)},
    )
    cfg = enabled.get(trigger)
    if cfg is None:
        return None
    # The control group's row is claimed like the others (once per occasion) but says
    # "held out": the dispatcher never sends it. Decided from the id, no query.
    held = experiments.held_out(
        experiments.experiment_key("trigger", cfg.pk), member.pk, cfg.holdout_percent
    )
    return MessageLog(
        member=member,
        trigger=trigger,
        occasion=occasion,
        marketing=cfg.marketing,
        priority=cfg.priority,
        due_at=due_at,
        status=MessageLog.Status.HELD_OUT if held else MessageLog.Status.SCHEDULED,
        context=context or {},
    )


def next_morning(member: Member, *, after: datetime, hour: int = 10) -> datetime:
    local = after.astimezone(ZoneInfo(member.time_zone))
    return datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=local.tzinfo)


def cart_abandoned(
    *, member: Member, reference: str, lines: list | None = None
) -> MessageLog | None:
    cfg = TriggerConfig.objects.filter(trigger="cart_abandoned", enabled=True).first()
    delay = timedelta(hours=(cfg.offset_days if cfg else 1) or 1)
    return message_schedule(
        member=member,
        trigger="cart_abandoned",
        occasion=f"cart:{reference}"[:64],
        due_at=timezone.now() + delay,
        context={"lines": lines or []},
    )


# --- broadcasts ---------------------------------------------------------------------


def broadcast_schedule(*, broadcast: Broadcast, at: datetime | None = None) -> Broadcast:
    broadcast.scheduled_at = at or broadcast.scheduled_at or timezone.now()
    broadcast.status = Broadcast.Status.SCHEDULED
    broadcast.save(update_fields=["scheduled_at", "status"])
    return broadcast


def broadcast_send_now(*, broadcast: Broadcast) -> Broadcast:
    """Schedule the broadcast for now and queue its selection and dispatch at once (after
    commit, through the outbox): the mails go within a minute, not at the next beat."""
    with transaction.atomic():
        broadcast = broadcast_schedule(broadcast=broadcast, at=timezone.now())
        enqueue("campaigns.send_broadcasts_now")
    return broadcast


def broadcast_next_send(broadcast: Broadcast, *, now: datetime | None = None) -> datetime | None:
    """When the mails of a scheduled broadcast start going: its time, taken up by the
    dispatcher that runs every five minutes (or at once after "send now")."""
    if broadcast.status != Broadcast.Status.SCHEDULED or broadcast.scheduled_at is None:
        return None
    now = now or timezone.now()
    at = max(broadcast.scheduled_at, now)
    minutes = (5 - at.minute % 5) % 5
    return (at + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def broadcasts_select(*, now: datetime | None = None) -> int:
    """Claim the rows of every broadcast whose time has come (consenting members of its
    segment, one statement each)."""
    now = now or timezone.now()
    total = 0
    for b in Broadcast.objects.filter(status=Broadcast.Status.SCHEDULED, scheduled_at__lte=now):
        with transaction.atomic():
            members = segment_members(b.segment, now=now).filter(email_opt_in=True)
            n = _claim_sql(
                members,
                trigger="broadcast",
                occasion=f"broadcast:{b.pk}",
                marketing=True,
                priority=90,
                due_at=now,
                broadcast_id=b.pk,
                holdout=(experiments.experiment_key("broadcast", b.pk), b.holdout_percent),
            )
            if b.holdout_percent:  # the recipients are the mails to send
                n = MessageLog.objects.filter(broadcast=b).exclude(status="held_out").count()
            Broadcast.objects.filter(pk=b.pk).update(status=Broadcast.Status.SENDING, recipients=n)
        total += n
    return total


# --- dispatch: consent, priority, weekly cap ------------------------------------------


@dataclass(frozen=True)
class DispatchReport:
    queued: int
    capped: int
    skipped: int
    cancelled: int


def messages_dispatch(*, now: datetime | None = None, chunk: int = 5000) -> DispatchReport:
    """Move due rows to queued (and queue their sending), or to skipped (no consent),
    capped (weekly cap reached; the lower-priority mail loses) or cancelled (a basket the
    member bought meanwhile). Rows are taken in chunks by member and priority, locked
    with SKIP LOCKED so two dispatchers share the work instead of doubling it."""
    now = now or timezone.now()
    cap = program().weekly_mail_cap
    # A worker that died mid-send leaves a row in "sending": give it back.
    MessageLog.objects.filter(
        status="sending", claimed_at__lt=now - sending_timeout(), sent_at__isnull=True
    ).update(status=MessageLog.Status.QUEUED)
    # Queued rows whose publishing was lost (the outbox republishes, this is the backstop).
    stale = list(
        MessageLog.objects.filter(
            status="queued", claimed_at__lt=now - sending_timeout()
        ).values_list("pk", flat=True)[:5000]
    )
    for i in range(0, len(stale), 200):
        with transaction.atomic():
            enqueue("campaigns.send_messages", stale[i : i + 200])
    totals = {"queued": 0, "capped": 0, "skipped": 0, "cancelled": 0}
    last = (0, -1, 0)
    while True:
        with transaction.atomic():
            rows = list(
                MessageLog.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=MessageLog.Status.SCHEDULED, due_at__lte=now)
                .filter(
                    Q(member_id__gt=last[0])
                    | Q(member_id=last[0], priority__gt=last[1])
                    | Q(member_id=last[0], priority=last[1], id__gt=last[2])
                )
                .select_related("member")
                .order_by("member_id", "priority", "id")[:chunk]
            )
            if not rows:
                break
            last = (rows[-1].member_id, rows[-1].priority, rows[-1].pk)
            recent = dict(
                MessageLog.objects.filter(
                    member_id__in={r.member_id for r in rows},
                    marketing=True,
                    status__in=["queued", "sending", "sent"],
                    created_at__gte=now - timedelta(days=7),
                )
                .values("member_id")
                .annotate(n=Count("id"))
                .values_list("member_id", "n")
            )
            decided: dict[str, list[int]] = {k: [] for k in totals}
            for row in rows:
                status = _decide(row, recent, cap)
                if status == "queued" and row.marketing:
                    recent[row.member_id] = recent.get(row.member_id, 0) + 1
                decided[status].append(row.pk)
            for status, ids in decided.items():
                if ids:
                    MessageLog.objects.filter(pk__in=ids).update(status=status, claimed_at=now)
                    totals[status] += len(ids)
            queued = decided["queued"]
            for i in range(0, len(queued), 200):
                batch = queued[i : i + 200]
                enqueue("campaigns.send_messages", batch)
    broadcasts_finish()
    return DispatchReport(**totals)


def _decide(row: MessageLog, recent: dict, cap: int) -> str:
    member = row.member
    if member.erased_at:
        return "cancelled"
    if (
        row.trigger == "cart_abandoned"
        and member.last_purchase_at
        and member.last_purchase_at >= row.created_at
    ):
        return "cancelled"
    if row.marketing and not member.email_opt_in:
        return "skipped"
    if row.marketing and cap and recent.get(row.member_id, 0) >= cap:
        return "capped"
    return "queued"
