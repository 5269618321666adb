"""Database-side steps of the drills, run as a small Django script against the PRIVATE
database (the runner sets DATABASE_URL etc.): `python drills/ops.py <action> '<json>'`.
Prints one line `DRILL-RESULT <json>`."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django  # noqa: E402

django.setup()

from datetime import date, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Max  # noqa: E402
from django.utils import timezone  # noqa: E402

ACTIONS = {}


def action(fn):
    ACTIONS[fn.__name__] = fn
    return fn


@action
def info(args):
    with connection.cursor() as cur:
        cur.execute("select version()")
        pg = cur.fetchone()[0]
    return {
        "EMAIL_BACKEND": settings.EMAIL_BACKEND,
        "EMAIL_FILE_PATH": str(getattr(settings, "EMAIL_FILE_PATH", "")),
        "CARAT_SENDING_TIMEOUT_SECONDS": settings.CARAT_SENDING_TIMEOUT_SECONDS,
        "DEBUG": settings.DEBUG,
        "CACHES": settings.CACHES["default"]["BACKEND"],
        "BROKER": settings.CELERY_BROKER_URL,
        "DB": f"{connection.vendor} {connection.settings_dict['HOST']}:"
        f"{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}",
        "pg_version": pg,
    }


@action
def webhook_setup(args):
    from loyalty.kernel.models import WebhookEndpoint

    WebhookEndpoint.objects.exclude(url=args["url"]).update(active=False)
    ep, _ = WebhookEndpoint.objects.update_or_create(
        url=args["url"],
        defaults={"name": "drill receiver", "secret": args["secret"], "events": [], "active": True},
    )
    return {"endpoint": ep.pk}


@action
def members(args):
    """Member numbers (not erased), with today's store sales count at the store."""
    from members.models import Member
    from pos.models import Purchase

    since = timezone.now() - timedelta(days=1)
    busy = dict(
        Purchase.objects.filter(occurred_at__gte=since)
        .values("member_id")
        .annotate(n=Count("id"))
        .values_list("member_id", "n")
    )
    rows = (
        Member.objects.filter(erased_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "member_number")
    )
    return {"members": [[num, busy.get(pk, 0)] for pk, num in rows]}


@action
def marks(args):
    from campaigns.models import MessageLog
    from loyalty.kernel.models import OutboxTask, WebhookDelivery, WebhookEvent
    from pos.models import Purchase

    def top(model):
        return model.objects.aggregate(m=Max("id"))["m"] or 0

    return {
        "event": top(WebhookEvent),
        "delivery": top(WebhookDelivery),
        "outbox": top(OutboxTask),
        "purchase": top(Purchase),
        "message": top(MessageLog),
    }


@action
def outbox_state(args):
    from loyalty.kernel.models import OutboxTask

    rows = OutboxTask.objects.filter(id__gt=args.get("since", 0))
    unpublished = rows.filter(published_at__isnull=True)
    err = unpublished.exclude(last_error="").values_list("last_error", flat=True).first()
    return {
        "total": rows.count(),
        "unpublished": unpublished.count(),
        "unpublished_attempted": unpublished.filter(attempts__gte=1).count(),
        "by_task": dict(rows.values("task").annotate(n=Count("id")).values_list("task", "n")),
        "sample_error": err,
        "all_unpublished": OutboxTask.objects.filter(published_at__isnull=True).count(),
    }


@action
def flush(args):
    """What celery-beat runs every minute (loyalty.outbox_flush), called directly."""
    from loyalty.tasks import flush_outbox

    return {"published": flush_outbox()}


@action
def events(args):
    from loyalty.kernel.models import WebhookDelivery, WebhookEvent

    evs = WebhookEvent.objects.filter(id__gt=args.get("since", 0)).order_by("id")
    deliveries = WebhookDelivery.objects.filter(event__id__gt=args.get("since", 0))
    return {
        "events": [
            {
                "id": str(e.event_id),
                "type": e.type,
                "receipt_id": (e.data or {}).get("receipt_id"),
                "key": (e.data or {}).get("key"),
            }
            for e in evs
        ],
        "deliveries": dict(
            deliveries.values("status").annotate(n=Count("id")).values_list("status", "n")
        ),
    }


@action
def deliveries(args):
    from loyalty.kernel.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(id__gt=args.get("since", 0))
    sending = list(rows.filter(status="sending").values_list("event__event_id", "member_key"))
    blocked = rows.filter(status="pending", member_key__in=[m for _e, m in sending]).count()
    return {
        "deliveries": dict(
            rows.values("status").annotate(n=Count("id")).values_list("status", "n")
        ),
        "sending_event_ids": [str(e) for e, _m in sending],
        "pending_behind_sending": blocked,
    }


@action
def deliver_now(args):
    """What celery-beat runs every minute (loyalty.deliver_webhooks), called directly."""
    from loyalty.tasks import deliver_webhooks

    return {"delivered": deliver_webhooks()}


@action
def purchases(args):
    from pos.models import Purchase

    rows = Purchase.objects.filter(receipt_id__in=args["receipts"])
    return {
        "purchases": {
            p.receipt_id: {
                "pk": p.pk,
                "carats": p.carats_awarded,
                "status": p.carats_status,
            }
            for p in rows
        }
    }


@action
def birthday_setup(args):
    """Drill B: one marketing trigger (birthday, English) and `n` members whose birthday
    is today in their own time zone, opted in. The other triggers are switched off so the
    drill counts only these mails."""
    from campaigns.models import MessageLog, Program, TriggerConfig
    from members.models import Member

    n = args["n"]
    TriggerConfig.objects.exclude(trigger="birthday").update(enabled=False)
    TriggerConfig.objects.update_or_create(
        trigger="birthday",
        defaults={
            "enabled": True,
            "marketing": True,
            "priority": 10,
            "offset_days": 0,
            "gift_carats": 0,
            "gift_reward": None,
            "segment": None,
            "subject_en": "Happy birthday, {{ member.first_name }}",
            "body_en": "Dear {{ member.first_name }},\n\nHappy birthday from {{ program }}! "
            "See you soon at https://carat.example/stores",
            "subject_nl": "",
            "body_nl": "",
            "subject_fr": "",
            "body_fr": "",
        },
    )
    now = timezone.now()
    chosen = list(Member.objects.filter(erased_at__isnull=True).order_by("pk")[:n])
    for m in chosen:
        today = now.astimezone(ZoneInfo(m.time_zone)).date()
        day = today.day
        if today.month == 2 and today.day == 29:
            day = 28  # the 28th matches the 29th in non-leap years; keep it simple
        Member.objects.filter(pk=m.pk).update(
            birth_date=date(1985, today.month, day), email_opt_in=True
        )
    # Everyone else: a birthday that is not today (so the count is exact).
    others = Member.objects.exclude(pk__in=[m.pk for m in chosen]).filter(birth_date__isnull=False)
    for m in others:
        today = now.astimezone(ZoneInfo(m.time_zone)).date()
        if m.birth_date.month == today.month and abs(m.birth_date.day - today.day) <= 1:
            Member.objects.filter(pk=m.pk).update(
                birth_date=m.birth_date.replace(month=(today.month % 12) + 1, day=1)
            )
    prog = Program.objects.first()
    return {
        "members": len(chosen),
        "weekly_mail_cap": getattr(prog, "weekly_mail_cap", None),
        "existing_messages": MessageLog.objects.count(),
    }


@action
def select_dispatch(args):
    from campaigns.services import messages_dispatch, triggers_select

    report = triggers_select()
    dispatched = messages_dispatch()
    return {"claimed": report.claimed, "dispatch": dispatched.__dict__}


@action
def dispatch(args):
    from campaigns.models import MessageLog
    from campaigns.services import messages_dispatch

    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CARAT_SENDING_TIMEOUT_SECONDS)
    stale_sending = MessageLog.objects.filter(
        status="sending", claimed_at__lt=cutoff, sent_at__isnull=True
    ).count()
    stale_queued = MessageLog.objects.filter(status="queued", claimed_at__lt=cutoff).count()
    report = messages_dispatch()
    return {
        "stale_sending_requeued": stale_sending,
        "stale_queued_republished": stale_sending + stale_queued,
        "dispatch": report.__dict__,
    }


@action
def messages(args):
    """Every MessageLog row: id -> [status, attempts, trigger]."""
    from campaigns.models import MessageLog

    rows = MessageLog.objects.values_list("pk", "status", "attempts", "trigger")
    return {"rows": {str(pk): [st, att, trig] for pk, st, att, trig in rows}}


@action
def verify_ledger(args):
    from io import StringIO

    from django.core.management import call_command

    buf = StringIO()
    try:
        call_command("verify_ledger", stdout=buf, stderr=buf)
        ok = True
    except SystemExit as exc:
        ok = not exc.code
    except Exception as exc:
        buf.write(f"{type(exc).__name__}: {exc}")
        ok = False
    return {"ok": ok, "output": buf.getvalue()[-2000:]}


def main():
    name = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = ACTIONS[name](args)
    print("DRILL-RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
