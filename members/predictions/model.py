"""The BG/NBD and Gamma-Gamma models, in numpy and scipy only (no Django here).

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while a
customer is active, purchases follow a Poisson process whose rate varies across customers
as Gamma(r, alpha); after each purchase the customer drops out with a probability that
varies as Beta(a, b). Each customer is summed up by three numbers, all in one time unit
(Carat uses days): x, the repeat purchases (purchases after the first); t_x, the time
from the first purchase to the last; T, the time from the first purchase to now.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer
Base Analysis"): a customer's order values vary around their own mean, which varies across
customers; fitted on the repeat buyers' mean repeat order value, with parameters p, q and
gamma.

Everything is computed in log space (gammaln, betaln, logaddexp); the conditional
expectation uses Euler's transformation of the hypergeometric function so that its
parameters stay small however many purchases a customer made (the untransformed
(1 - z)^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) overflows beyond a few hundred purchases).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

# Parameters stay inside these bounds while fitting (log space): far wider than any
# published fit, narrow enough that a degenerate sample cannot run to infinity.
_LOG_BOUNDS = (np.log(1e-6), np.log(1e6))


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fit:
    params: BgNbdParams | GammaGammaParams
    log_likelihood: float  # the maximised sum over the sample (without the penalty)
    customers: int
    converged: bool
    iterations: int


def _arrays(*columns) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(c, dtype=np.float64) for c in columns)


# --- BG/NBD ----------------------------------------------------------------------


def bgnbd_log_likelihood(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, equation 6), vectorised."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    # Dropped out right after the last purchase (only possible after a repeat purchase):
    # B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1).
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_log_likelihood_and_gradient(
    params: BgNbdParams, x, t_x, T
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's log-likelihood and its gradient with respect to (r, alpha, a, b),
    a 4 x n array: the fit takes analytic derivatives instead of numerical ones (a
    fifth of the likelihood evaluations)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    mix = np.logaddexp(a3, a4)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b) + mix
    w4 = np.exp(a4 - mix)  # the weight of "dropped out after the last purchase"
    w3 = 1 - w4
    inv_bx1 = np.zeros_like(x)
    inv_bx1[repeat] = 1 / (b + xr - 1)
    d_ab = digamma(a + b) - digamma(a + b + x)
    grad = np.stack(
        [
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - w3 * np.log(alpha + T)
            - w4 * np.log(alpha + np.where(repeat, t_x, T)),
            r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x)),
            d_ab + w4 / a,
            digamma(b + x) - digamma(b) + d_ab - w4 * inv_bx1,
        ]
    )
    return ll, grad


def bgnbd_fit(
    x, t_x, T, *, weights=None, penalizer: float = 0.0, start: BgNbdParams | None = None
) -> Fit:
    """Maximum likelihood (L-BFGS-B over the log parameters, analytic gradient).
    `weights` counts customers who share the same (x, t_x, T); `penalizer` adds
    penalizer * sum(log(param)^2) to the mean negative log-likelihood (a pull towards 1
    for small or odd samples)."""
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    n = w.sum()
    start = start or BgNbdParams(
        r=1.0, alpha=max(float(np.average(T, weights=w)), 1.0), a=1.0, b=1.0
    )

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        values = np.exp(theta)
        ll, grad = bgnbd_log_likelihood_and_gradient(BgNbdParams(*values), x, t_x, T)
        f = -float(np.dot(w, ll)) / n + penalizer * float(np.dot(theta, theta))
        g = -(grad @ w) / n * values + 2 * penalizer * theta  # d/dlog(p) = p d/dp
        return f, g

    return _minimize(objective, start, BgNbdParams, x, t_x, T, w=w, n=n, ll=bgnbd_log_likelihood)


def _minimize(objective, start, kind, *data, w, n, ll) -> Fit:
    theta0 = np.log(np.fromiter(start.as_dict().values(), dtype=np.float64))
    result = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS] * len(theta0),
        options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
    )
    params = kind(*(float(v) for v in np.exp(result.x)))
    total = float(np.dot(w, ll(params, *data)))
    return Fit(
        params=params,
        log_likelihood=total,
        customers=int(n),
        converged=bool(result.success),
        iterations=int(result.nit),
    )


def p_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """P(still active | x, t_x, T) (FHL 2005, equation 12; a one-time buyer is active
    by the model's assumptions, dropping out only after a purchase)."""
    x, t_x, T = _arrays(x, t_x, T)
    return expit(-_log_odds_dead(params, x, t_x, T))


def _log_odds_dead(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """log( a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) ), -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    out = np.full_like(x, -np.inf)
    rep = x > 0
    xr = x[rep]
    out[rep] = (
        np.log(a)
        - np.log(b + xr - 1)
        + (r + xr) * (np.log(alpha + T[rep]) - np.log(alpha + t_x[rep]))
    )
    return out


def expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """E[purchases in the next `t` | x, t_x, T] (FHL 2005, equation 10), vectorised.

    With z = t/(alpha+T+t), Euler's transformation turns
    (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z):
    the same number, with parameters that do not grow with x. When the fit's a and b are
    very large (a population whose drop-out the data cannot tell apart, as a small
    program's), (1-z)^(a-1) underflows and that form is NaN: there the original form,
    whose parameters stay moderate for the few purchases such members have, is used."""
    x, t_x, T = _arrays(x, t_x, T)
    t = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    tail = _tail(r, a, b, x, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - tail)
    return numerator * p_alive(params, x, t_x, T)


def _tail(r: float, a: float, b: float, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), by Euler's form where it is finite (any x,
    moderate a) and by the original form elsewhere (large a and b, moderate x)."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        euler = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        bad = ~np.isfinite(euler)
        if np.any(bad):
            xb, zb = np.broadcast_arrays(x, z)
            xb, zb = xb[bad], zb[bad]
            euler = np.array(euler, dtype=np.float64, copy=True)
            euler[bad] = np.exp((r + xb) * np.log1p(-zb)) * hyp2f1(
                r + xb, b + xb, a + b + xb - 1, zb
            )
    return euler


def expected_purchases_new(params: BgNbdParams, t) -> np.ndarray:
    """E[X(t)]: repeat purchases within `t` of a new customer's first purchase (FHL 2005,
    equation 9), for the cohort's forecast over time."""
    t = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    # Euler's transformation again: (1-z)^r 2F1(r, b; a+b-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z)
    tail = _tail(r, a, b, np.zeros_like(z), z)  # x = 0: 2F1(...; a+b-1; z)
    return (a + b - 1) / (a - 1) * (1 - tail)


# --- Gamma-Gamma -----------------------------------------------------------------


def gamma_gamma_log_likelihood(params: GammaGammaParams, x, m) -> np.ndarray:
    """Each repeat buyer's log-likelihood of their mean repeat order value m over x
    repeat orders (FHL 2005b, the density of the mean), vectorised."""
    x, m = _arrays(x, m)
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + x * m)
    )


def gamma_gamma_gradient(params: GammaGammaParams, x, m) -> np.ndarray:
    """The gradient of each repeat buyer's log-likelihood w.r.t. (p, q, gamma), 3 x n."""
    x, m = _arrays(x, m)
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    log_gxm = np.log(g + x * m)
    d_all = digamma(px + q)
    return np.stack(
        [
            x * (d_all - digamma(px) + np.log(m) + np.log(x) - log_gxm),
            d_all - digamma(q) + np.log(g) - log_gxm,
            q / g - (px + q) / (g + x * m),
        ]
    )


def gamma_gamma_fit(
    x, m, *, weights=None, penalizer: float = 0.0, start: GammaGammaParams | None = None
) -> Fit:
    """Maximum likelihood on repeat buyers only (x >= 1, m > 0): the caller selects them."""
    x, m = _arrays(x, m)
    if len(x) and (np.any(x < 1) or np.any(m <= 0)):
        raise ValueError("Gamma-Gamma is fitted on repeat buyers with a positive mean value.")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    n = w.sum()
    start = start or GammaGammaParams(p=1.0, q=1.0, gamma=max(float(np.median(m)), 1.0))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        values = np.exp(theta)
        params = GammaGammaParams(*values)
        ll = gamma_gamma_log_likelihood(params, x, m)
        grad = gamma_gamma_gradient(params, x, m)
        f = -float(np.dot(w, ll)) / n + penalizer * float(np.dot(theta, theta))
        return f, -(grad @ w) / n * values + 2 * penalizer * theta

    return _minimize(
        objective, start, GammaGammaParams, x, m, w=w, n=n, ll=gamma_gamma_log_likelihood
    )


def expected_order_value(params: GammaGammaParams, x, m) -> np.ndarray:
    """E[order value | x repeat orders with mean m] (FHL 2005b): a weighted mean of the
    population mean p*gamma/(q-1) and the customer's own mean. With x = 0 it is the
    population mean (m is then ignored). Needs q > 1 (else the population mean is
    infinite)."""
    x, m = _arrays(x, m)
    p, q, g = params.p, params.q, params.gamma
    m = np.where(x > 0, m, 0.0)
    return (g + x * m) * p / (p * x + q - 1)


# --- CLV -------------------------------------------------------------------------


def clv(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    x,
    t_x,
    T,
    m,
    *,
    horizon: float = 365.0,
    steps: int = 12,
    period_discount: float = 0.0,
) -> np.ndarray:
    """Expected revenue over `horizon` (same unit as T): expected purchases times the
    expected order value. With `period_discount` > 0 the horizon is cut into `steps`
    equal periods, each period's expected purchases discounted at the period's end by
    (1 + period_discount)^k; with 0 (Carat's default) it is undiscounted revenue."""
    x, t_x, T, m = _arrays(x, t_x, T, m)
    value = expected_order_value(gg, x, m)
    if period_discount <= 0:
        return expected_purchases(bg, horizon, x, t_x, T) * value
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, steps + 1):
        upto = expected_purchases(bg, horizon * k / steps, x, t_x, T)
        total += (upto - previous) / (1 + period_discount) ** k
        previous = upto
    return total * value
