from celery import shared_task

from .kernel.outbox import outbox_flush


@shared_task(name="loyalty.outbox_flush")
def flush_outbox() -> int:
    return outbox_flush()


@shared_task(name="loyalty.deliver_webhooks")
def deliver_webhooks() -> int:
    from .kernel.webhooks import deliver_due

    return deliver_due()


@shared_task(name="loyalty.warm_dashboard")
def warm_dashboard() -> None:
    """Precompute the console's start page so marketing never waits for it."""
    from .console.dashboard import warm_cache

    warm_cache()


@shared_task(name="loyalty.kpi_rollup")
def kpi_rollup(full: bool = False) -> str:
    """Bring the dashboard's rollups up to date: hourly incrementally, nightly in full
    (`full`); safe to run twice."""
    from .console.rollup_delta import kpi_rollup_refresh

    run = kpi_rollup_refresh(full=full)
    return f"as of {run.as_of:%Y-%m-%d %H:%M}, {run.seconds} s" if run else "not on this database"
