"""The nightly predictions (the only writer of MemberPrediction and PredictionRun).

One run: every buyer's features in one statement (features.member_features), the BG/NBD
and Gamma-Gamma parameters fitted by maximum likelihood on a random sample, every buyer
scored with numpy, and the scores written back in one transaction: on PostgreSQL COPY
into a temporary table, one INSERT ... ON CONFLICT DO UPDATE over all rows and one
DELETE of the members no longer scored (erased). Readers see the previous scores until
it commits. Time is counted in days.

CLV is 12 months of expected revenue (expected orders x expected order value, EUR, not
margin), undiscounted unless CARAT_CLV_ANNUAL_DISCOUNT is set (then month by month)."""

from __future__ import annotations

import io
import logging
import time
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import model
from .features import Features, member_features
from .tables import MemberPrediction, PredictionRun

log = logging.getLogger(__name__)

# Fewer buyers than this (or no repeat buyer) and there is nothing to learn from.
MIN_BUYERS = 20
MIN_REPEAT_BUYERS = 10
# Money columns hold up to 10 digits before the point: a runaway score is clipped.
MONEY_MAX = 1e9
COLUMNS = (
    "member_id",
    "orders",
    "frequency",
    "recency_days",
    "age_days",
    "p_alive",
    "expected_90",
    "expected_365",
    "order_value_eur",
    "clv_12m_eur",
    "computed_at",
)


class Scores:
    def __init__(
        self,
        f: Features,
        bg: model.BgNbdParams,
        gg: model.GammaGammaParams | None,
        fallback_value: float,
        monthly_discount: float,
    ):
        self.p_alive = np.nan_to_num(model.p_alive(bg, f.x, f.t_x, f.T))
        self.expected_90 = np.nan_to_num(model.expected_purchases(bg, 90, f.x, f.t_x, f.T))
        self.expected_365 = np.nan_to_num(model.expected_purchases(bg, 365, f.x, f.t_x, f.T))
        if gg is None:
            self.value = np.full(len(f), fallback_value)
        else:
            self.value = np.nan_to_num(model.expected_order_value(gg, f.x, f.m))
        self.value = np.clip(self.value, 0, MONEY_MAX)
        if monthly_discount > 0:
            revenue = self._discounted(bg, f, monthly_discount)
        else:
            revenue = self.expected_365 * self.value
        self.clv = np.clip(np.nan_to_num(revenue), 0, MONEY_MAX)

    def _discounted(self, bg, f, monthly_discount) -> np.ndarray:
        total = np.zeros(len(f))
        previous = np.zeros(len(f))
        for k in range(1, 13):
            upto = model.expected_purchases(bg, 365 * k / 12, f.x, f.t_x, f.T)
            total += (upto - previous) / (1 + monthly_discount) ** k
            previous = upto
        return total * self.value


def predictions_run(
    *, now: datetime | None = None, sample_size: int | None = None, seed: int = 0
) -> PredictionRun | None:
    """Fit, score every buyer and write back. None when there are too few buyers (the
    previous scores stay)."""
    now = now or timezone.now()
    if sample_size is None:
        sample_size = int(getattr(settings, "CARAT_PREDICTION_SAMPLE", 100_000))
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    f = member_features(now=now)
    seconds["features"] = _lap(t0)
    if len(f) < MIN_BUYERS or int((f.x > 0).sum()) < MIN_REPEAT_BUYERS:
        log.info("predictions: %s buyers, too few to fit", len(f))
        return None
    t0 = time.monotonic()
    rng = np.random.default_rng(seed)
    sample = f.take(np.sort(rng.choice(len(f), size=min(len(f), sample_size), replace=False)))
    # Buyers with the same (x, t_x, T) in whole days are one term, weighted by their number.
    keys, counts = np.unique(
        np.stack([sample.x, sample.t_x, sample.T], axis=1), axis=0, return_counts=True
    )
    bg_fit = model.bgnbd_fit(*keys.T, weights=counts, penalizer=_penalizer())
    gg_fit = _gamma_gamma(sample)
    seconds["fit"] = _lap(t0)
    t0 = time.monotonic()
    fallback = float(np.mean(f.m[f.x > 0]))
    gg = gg_fit.params if gg_fit else None
    scores = Scores(f, bg_fit.params, gg, fallback, _monthly_discount())
    seconds["score"] = _lap(t0)
    t0 = time.monotonic()
    with transaction.atomic():
        _write(f, scores, now)
        run = PredictionRun.objects.create(
            as_of=now,
            params=_params(bg_fit, gg_fit, fallback),
            members_scored=len(f),
            sample_size=len(sample),
            expected_90_total=float(scores.expected_90.sum()),
            expected_365_total=float(scores.expected_365.sum()),
            clv_total_eur=Decimal(f"{scores.clv.sum():.2f}"),
            p_alive_histogram=np.histogram(scores.p_alive, bins=10, range=(0, 1))[0].tolist(),
        )
    seconds["write"] = _lap(t0)
    t0 = time.monotonic()
    _realise(now)
    seconds["realised"] = _lap(t0)
    PredictionRun.objects.filter(pk=run.pk).update(seconds=seconds)
    run.seconds = seconds
    return run


def _lap(t0: float) -> float:
    return round(time.monotonic() - t0, 3)


def _penalizer() -> float:
    return float(getattr(settings, "CARAT_PREDICTION_PENALIZER", 0.0))


def _monthly_discount() -> float:
    annual = float(getattr(settings, "CARAT_CLV_ANNUAL_DISCOUNT", 0.0))
    return (1 + annual) ** (1 / 12) - 1 if annual > 0 else 0.0


def _gamma_gamma(sample: Features) -> model.Fit | None:
    """Fitted on the sample's repeat buyers with a positive mean; None when there are too
    few or the fit has no finite mean (q <= 1): the order value is then the plain mean."""
    repeat = (sample.x > 0) & (sample.m > 0)
    if int(repeat.sum()) < MIN_REPEAT_BUYERS:
        return None
    fit = model.gamma_gamma_fit(sample.x[repeat], sample.m[repeat], penalizer=_penalizer())
    return fit if fit.params.q > 1 else None


def _params(bg_fit: model.Fit, gg_fit: model.Fit | None, fallback: float) -> dict:
    return {
        "unit": "days",
        "bgnbd": bg_fit.params.as_dict(),
        "bgnbd_log_likelihood": round(bg_fit.log_likelihood, 3),
        "bgnbd_converged": bg_fit.converged,
        "gamma_gamma": gg_fit.params.as_dict() if gg_fit else None,
        "gamma_gamma_converged": gg_fit.converged if gg_fit else None,
        "mean_repeat_value_eur": round(fallback, 2),
        "annual_discount": float(getattr(settings, "CARAT_CLV_ANNUAL_DISCOUNT", 0.0)),
    }


# Serialises two runs' writes (any bigint unique to this job).
WRITE_LOCK = 7_100_424_927


def _write(f: Features, s: Scores, now: datetime) -> None:
    table = MemberPrediction._meta.db_table
    if connection.vendor != "postgresql":
        MemberPrediction.objects.all().delete()
        MemberPrediction.objects.bulk_create(
            [MemberPrediction(**dict(zip(COLUMNS, row, strict=True))) for row in _rows(f, s, now)],
            batch_size=500,
        )
        return
    cols = ", ".join(COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
    with connection.cursor() as cur:
        # A second run at the same time waits here, then replaces this one's scores.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
        cur.execute(f"CREATE TEMPORARY TABLE prediction_stage (LIKE {table}) ON COMMIT DROP")
        with cur.cursor.copy(f"COPY prediction_stage ({cols}) FROM STDIN") as copy:
            for chunk in _text_chunks(f, s, now):
                copy.write(chunk)
        # One statement writes every score; a member erased since is deleted below.
        cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM prediction_stage "  # noqa: S608
            f"ON CONFLICT (member_id) DO UPDATE SET {updates}"
        )
        cur.execute(f"DELETE FROM {table} WHERE computed_at <> %s", [now])  # noqa: S608
        cur.execute("DROP TABLE prediction_stage")


def _rows(f: Features, s: Scores, now: datetime):
    for i in range(len(f)):
        yield (
            int(f.member_id[i]),
            int(f.x[i]) + 1,
            int(f.x[i]),
            int(f.t_x[i]),
            int(f.T[i]),
            float(s.p_alive[i]),
            float(s.expected_90[i]),
            float(s.expected_365[i]),
            Decimal(f"{s.value[i]:.2f}"),
            Decimal(f"{s.clv[i]:.2f}"),
            now,
        )


def _text_chunks(f: Features, s: Scores, now: datetime, size: int = 50_000):
    """COPY's text format, built a chunk at a time."""
    at = now.isoformat()
    for start in range(0, len(f), size):
        sl = slice(start, start + size)
        lines = io.StringIO()
        for mid, x, tx, t, p, e90, e365, v, c in zip(
            f.member_id[sl].tolist(),
            f.x[sl].tolist(),
            f.t_x[sl].tolist(),
            f.T[sl].tolist(),
            s.p_alive[sl].tolist(),
            s.expected_90[sl].tolist(),
            s.expected_365[sl].tolist(),
            s.value[sl].tolist(),
            s.clv[sl].tolist(),
            strict=True,
        ):
            lines.write(
                f"{mid}\t{int(x) + 1}\t{int(x)}\t{int(tx)}\t{int(t)}\t{p!r}\t{e90!r}\t{e365!r}"
                f"\t{v:.2f}\t{c:.2f}\t{at}\n"
            )
        yield lines.getvalue()


def _realise(now: datetime) -> None:
    """The realised side of the oldest run whose 90 days have passed: the order days the
    members it scored placed in those 90 days (the same definitions, read twice)."""
    run = (
        PredictionRun.objects.filter(as_of__lte=now - timedelta(days=90), realised_90__isnull=True)
        .order_by("-as_of")
        .first()
    )
    if run is None:
        return
    before = member_features(now=run.as_of)
    after = member_features(now=run.as_of + timedelta(days=90))
    orders_before = dict(zip(before.member_id.tolist(), (before.x + 1).tolist(), strict=True))
    realised = sum(
        int(x + 1 - orders_before[mid])
        for mid, x in zip(after.member_id.tolist(), after.x.tolist(), strict=True)
        if mid in orders_before
    )
    PredictionRun.objects.filter(pk=run.pk).update(realised_90=realised)
    # Only the newest run with its realised figure is kept besides the recent ones.
    PredictionRun.objects.filter(
        as_of__lt=run.as_of, realised_90__isnull=True, as_of__lte=now - timedelta(days=90)
    ).delete()
