"""The predictions' tables: one row per scored member (replaced by each nightly run) and
one per run (the fitted parameters, timings and the aggregates the dashboard shows)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MemberPrediction(models.Model):
    """The nightly job's scores of one member who has bought (written by
    members.predictions.services only). Times are in days."""

    member = models.OneToOneField(
        "members.Member", on_delete=models.CASCADE, primary_key=True, related_name="prediction"
    )
    orders = models.PositiveIntegerField(
        _("order days"), help_text="Days with an order (not fully returned)."
    )
    frequency = models.PositiveIntegerField(
        _("repeat order days"), help_text="Repeat order days (orders - 1)."
    )
    recency_days = models.PositiveIntegerField(
        _("first to last order (days)"), help_text="First order day to the last."
    )
    age_days = models.PositiveIntegerField(
        _("since the first order (days)"), help_text="First order day to the scoring day."
    )
    p_alive = models.FloatField(
        _("chance still active"), help_text="Probability the member is still an active buyer."
    )
    expected_90 = models.FloatField(
        _("expected orders, 90 days"), help_text="Expected orders in the next 90 days."
    )
    expected_365 = models.FloatField(
        _("expected orders, 12 months"), help_text="Expected orders in the next 365 days."
    )
    order_value_eur = models.DecimalField(
        _("expected order value (EUR)"), max_digits=12, decimal_places=2
    )
    clv_12m_eur = models.DecimalField(
        _("expected spend, 12 months (EUR)"), max_digits=12, decimal_places=2
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("prediction")
        indexes = [
            models.Index(fields=["-clv_12m_eur"], name="prediction_clv"),
            models.Index(fields=["p_alive"], name="prediction_p_alive"),
        ]

    def __str__(self):
        return f"{self.member_id}: P(active) {self.p_alive:.2f}"


class PredictionRun(models.Model):
    """A nightly fit: the parameters, how long it took, and the aggregates of its scores.
    `realised_90` is filled in by the first run 90 days later: the orders the scored
    members actually placed, beside `expected_90_total`."""

    as_of = models.DateTimeField(default=timezone.now, unique=True)
    params = models.JSONField(default=dict)
    members_scored = models.PositiveIntegerField(default=0)
    sample_size = models.PositiveIntegerField(default=0)
    expected_90_total = models.FloatField(default=0)
    expected_365_total = models.FloatField(default=0)
    clv_total_eur = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    p_alive_histogram = models.JSONField(default=list)
    realised_90 = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.JSONField(default=dict)

    class Meta:
        ordering = ["-as_of"]
        verbose_name = _("prediction run")

    def __str__(self):
        return f"predictions of {self.as_of:%Y-%m-%d %H:%M}"


class AmbassadorCandidate(MemberPrediction):
    """The console's list of members worth inviting to the hidden tier: the highest
    12-month CLV, with their advocacy beside it (read-only; loyalty.console)."""

    class Meta:
        proxy = True
        verbose_name = _("ambassador candidate")
        verbose_name_plural = _("ambassador candidates")
