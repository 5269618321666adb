"""Thin Celery wrappers of the sales app's jobs; each is safe to run twice."""

from celery import shared_task

from .services.catalog import popular_refresh


@shared_task(name="pos.popular_products")
def popular_products() -> int:
    """The best sellers per category over the last 90 days (nightly)."""
    return popular_refresh()
