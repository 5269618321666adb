"""Write every celery-beat schedule (idempotent): run on deploy and by `make run`.
One periodic task per job, never one per member."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

# name -> (task, crontab fields[, keyword arguments])
SCHEDULE = {
    "Nightly tier evaluation": ("tiers.evaluate_all", {"minute": "15", "hour": "2"}),
    "Publish what the outbox still holds": ("loyalty.outbox_flush", {"minute": "*", "hour": "*"}),
    "Warm the dashboard cache": ("loyalty.warm_dashboard", {"minute": "*/15", "hour": "*"}),
    # Hourly: only the members touched since the last run (loyalty/console/rollup_delta.py).
    "Bring the dashboard's KPI rollups up to date": (
        "loyalty.kpi_rollup",
        {"minute": "40", "hour": "*"},
    ),
    # Nightly, after the tier job (02:15): everything rebuilt from the sales and ledger.
    "Rebuild the dashboard's KPI rollups in full": (
        "loyalty.kpi_rollup",
        {"minute": "50", "hour": "2"},
        {"full": True},
    ),
    "Deliver webhooks (retries)": ("loyalty.deliver_webhooks", {"minute": "*", "hour": "*"}),
    "Release pending carats": ("campaigns.release_pending", {"minute": "30", "hour": "1"}),
    "Birthday surprises (each time zone's morning)": (
        "campaigns.birthdays",
        {"minute": "5", "hour": "*"},
    ),
    "Close challenges past their window": (
        "campaigns.expire_challenges",
        {"minute": "50", "hour": "0"},
    ),
    "Carats expiry and warnings": ("campaigns.expire_carats", {"minute": "45", "hour": "3"}),
    "Club renewal reminders": ("campaigns.club_reminders", {"minute": "0", "hour": "10"}),
    "Trigger e-mails and broadcasts (each time zone)": (
        "campaigns.select_triggers",
        {"minute": "20", "hour": "*"},
    ),
    "Choose the winners of A/B tested mails": (
        "campaigns.choose_variant_winners",
        {"minute": "10", "hour": "6"},
    ),
    "Dispatch due e-mails": ("campaigns.dispatch_messages", {"minute": "*/5", "hour": "*"}),
    # After the tier job, before the 03:20 trigger selection reads P(active) for win-back.
    "Predictions: P(active), expected orders, CLV": (
        "members.predictions",
        {"minute": "5", "hour": "3"},
    ),
    # Before the morning's trigger mails, which show them.
    "Rank the popular products per category": (
        "pos.popular_products",
        {"minute": "25", "hour": "4"},
    ),
}


class Command(BaseCommand):
    help = "Create or update the periodic tasks (celery-beat) of Carat."

    @transaction.atomic
    def handle(self, *args, **options):
        for name, (task, cron, *kwargs) in SCHEDULE.items():
            schedule, _ = CrontabSchedule.objects.get_or_create(
                timezone=settings.TIME_ZONE,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                **cron,
            )
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": task,
                    "crontab": schedule,
                    "enabled": True,
                    "kwargs": json.dumps(kwargs[0] if kwargs else {}),
                },
            )
        stale = PeriodicTask.objects.exclude(name__in=SCHEDULE).exclude(name__startswith="celery.")
        removed = stale.count()
        stale.delete()
        self.stdout.write(f"{len(SCHEDULE)} periodic task(s) set up, {removed} stale removed.")
