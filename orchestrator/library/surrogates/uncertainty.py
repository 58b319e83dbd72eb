"""Ensemble uncertainty and the trust decision of the surrogate-with-fallback pattern.

An ensemble of independently initialised and shuffled members predicts every query;
their disagreement (`spread`: the L2 norm of the member standard deviation relative to
the norm of the mean) is a cheap error indicator, but not an error estimate: members
share their training data and architecture, so they err together and the spread is
usually smaller than the error. `calibrate` therefore scales it on held-out samples,
where the true error is known, so that `factor * spread` bounds the error of a chosen
fraction (`coverage`) of them. `route` then accepts a prediction only when its
estimated error is within the threshold; everything else goes to the solver.

The spread cannot see what all members get wrong alike, such as inputs unlike the
training data. Where the problem has a cheap residual (how far a prediction is from
satisfying the equations: one operator application), `route` can also demand that it
stays within what the held-out predictions showed (`residual_limit`): a physics check
that does not depend on the members disagreeing.

NumPy only (predictions arrive as arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def relative_l2(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-sample ||pred - ref|| / ||ref|| over the trailing (N, N) dimensions."""
    n = len(ref)
    diff = np.linalg.norm((pred - ref).reshape(n, -1), axis=1)
    norm = np.linalg.norm(ref.reshape(n, -1), axis=1)
    return diff / np.where(norm > 0, norm, 1.0)


def ensemble_stats(preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, spread) of member predictions shaped (n, members, N, N): the ensemble
    mean (n, N, N) and the relative spread (n,). One member has spread 0."""
    mean = preds.mean(axis=1)
    if preds.shape[1] < 2:
        return mean, np.zeros(len(preds))
    n = len(preds)
    std = np.linalg.norm(preds.std(axis=1, ddof=1).reshape(n, -1), axis=1)
    norm = np.linalg.norm(mean.reshape(n, -1), axis=1)
    return mean, std / np.where(norm > 0, norm, 1.0)


def calibrate(spread: np.ndarray, error: np.ndarray, coverage: float = 0.9) -> float:
    """The factor c with c * spread >= error on a `coverage` fraction of the samples
    (the `coverage` quantile of error / spread); 1.0 when there is nothing to fit."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    ok = spread > 0
    if not ok.any():
        return 1.0
    return float(np.quantile(error[ok] / spread[ok], coverage))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (None for fewer than 3 samples or constant input)."""
    if len(a) < 3:
        return None
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class Routing:
    estimate: np.ndarray  # estimated relative error of each query
    accepted: np.ndarray  # bool: the surrogate's answer is used
    threshold: float
    routed_by_residual: int = 0  # trusted by the spread, sent to the solver by the residual
    residual_limit: float | None = None

    @property
    def routed(self) -> np.ndarray:
        """Indices of the queries sent to the solver."""
        return np.flatnonzero(~self.accepted)

    def to_json(self) -> dict[str, object]:
        acc = self.estimate[self.accepted]
        return {"threshold": self.threshold, "queries": len(self.estimate),
                "accepted": int(self.accepted.sum()), "routed": int((~self.accepted).sum()),
                "estimate_max_accepted": float(acc.max()) if acc.size else None,
                "residual_limit": self.residual_limit,
                "routed_by_residual": self.routed_by_residual}


def residual_limit(heldout_max: float, margin: float) -> float | None:
    """The largest residual `route` accepts: `margin` times the largest residual of the
    held-out predictions (inputs like the training data); None (no residual check) when
    margin is 0."""
    return float(margin * heldout_max) if margin > 0 else None


def route(spread: np.ndarray, factor: float, threshold: float,
          residual: np.ndarray | None = None, limit: float | None = None) -> Routing:
    """Accept a query when factor * spread <= threshold (a non-finite spread never is)
    and, when a `limit` is given, its `residual` is within it."""
    estimate = factor * np.asarray(spread, dtype=float)
    accepted = np.isfinite(estimate) & (estimate <= threshold)
    by_residual = 0
    if limit is not None and residual is not None:
        within = np.asarray(residual, dtype=float) <= limit  # NaN is never within
        by_residual = int((accepted & ~within).sum())
        accepted = accepted & within
    return Routing(estimate, accepted, float(threshold), by_residual, limit)


def conformal_factor(spread: np.ndarray, error: np.ndarray, coverage: float = 0.9) -> float:
    """Split-conformal factor c from a calibration split: the ceil((n + 1) coverage)-th
    smallest score error / spread. For a new sample exchangeable with the calibration
    ones (same distribution, unseen by training and by this fit), P(error <= c * spread)
    >= coverage: a marginal guarantee, over draws, not one per answer; inf when n is too
    small for that coverage. A zero spread scores inf (it never bounds a positive error)."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    spread, error = np.asarray(spread, float), np.asarray(error, float)
    n = len(error)
    rank = int(np.ceil((n + 1) * coverage))
    if n == 0 or rank > n:
        return float("inf")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(spread > 0, error / np.where(spread > 0, spread, 1.0), np.inf)
    return float(np.sort(scores)[rank - 1])


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean."""
    from scipy import stats

    v = np.asarray(values, float)
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * v.std(ddof=1) / np.sqrt(len(v))
    return (float(v.mean() - half), float(v.mean() + half))


def bootstrap_interval(values: np.ndarray, statistic, level: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(values) (seeded: reproducible)."""
    v = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    stats_ = np.array([statistic(v[rng.integers(0, len(v), len(v))]) for _ in range(resamples)])
    return (float(np.quantile(stats_, (1 - level) / 2)),
            float(np.quantile(stats_, (1 + level) / 2)))


def binomial_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval of a proportion: 0 of 256 gives (0, 1.4%)."""
    from scipy import stats

    if n == 0:
        return (0.0, 1.0)
    a = (1 - level) / 2
    lo = 0.0 if successes == 0 else float(stats.beta.ppf(a, successes, n - successes + 1))
    hi = 1.0 if successes == n else float(stats.beta.ppf(1 - a, successes + 1, n - successes))
    return (lo, hi)
