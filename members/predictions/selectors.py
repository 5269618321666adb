"""Reads of the predictions for the console and the program."""

from __future__ import annotations

from dataclasses import dataclass

from members.models import Member

from .tables import MemberPrediction, PredictionRun


def member_prediction(member: Member) -> MemberPrediction | None:
    """The member's scores of the last nightly run, None if they never bought (or bought
    for the first time since)."""
    return MemberPrediction.objects.filter(member=member).first()


def latest_run() -> PredictionRun | None:
    return PredictionRun.objects.order_by("-as_of").first()


@dataclass(frozen=True)
class Realised:
    run: PredictionRun
    expected: float
    actual: int

    @property
    def ratio(self) -> float | None:
        return self.actual / self.expected if self.expected else None


def latest_realised() -> Realised | None:
    """The newest run whose 90 days have passed: its expected orders beside the ones the
    members it scored placed."""
    run = PredictionRun.objects.filter(realised_90__isnull=False).order_by("-as_of").first()
    if run is None:
        return None
    return Realised(run=run, expected=run.expected_90_total, actual=run.realised_90)
