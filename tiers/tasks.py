from celery import shared_task

from .services import tiers_evaluate_all


@shared_task(name="tiers.evaluate_all", acks_late=True)
def evaluate_all_tiers() -> dict:
    report = tiers_evaluate_all()
    return {
        "initialised": report.initialised,
        "upgraded": report.upgraded,
        "downgraded": report.downgraded,
    }
