"""DP-GEN's selection and convergence rules, as pure functions (unit-tested without the
science codes).

Trust levels on the max force deviation s of each explored frame: s < lo is accurate
(the ensemble agrees, nothing to learn), lo <= s < hi is a candidate (worth a reference
call), s >= hi is failed (the models are lost there, often an unphysical frame; labelling
it would teach them garbage). At most `max_select` candidates are labelled per
iteration, chosen at random as DP-GEN does. The loop has converged when the accurate
fraction of explored frames reaches the threshold (DP-GEN's `fp_accurate_threshold`)."""

from __future__ import annotations

import math

import numpy as np

ACCURATE, CANDIDATE, FAILED = 0, 1, 2


def classify(deviation: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 accurate, 1 candidate, 2 failed for each frame; NaN deviations count as failed."""
    if not (0 <= lo < hi):
        raise ValueError(f"need 0 <= trust_lo < trust_hi, got {lo} and {hi}")
    dev = np.asarray(deviation, dtype=float)
    cls = np.full(dev.shape, FAILED, dtype=np.int8)
    ok = np.isfinite(dev)
    cls[ok & (dev < lo)] = ACCURATE
    cls[ok & (dev >= lo) & (dev < hi)] = CANDIDATE
    return cls


def fractions(classes: np.ndarray) -> dict[str, float]:
    n = len(classes)
    if n == 0:
        return {"accurate_fraction": 0.0, "candidate_fraction": 0.0, "failed_fraction": 1.0}
    return {"accurate_fraction": float(np.mean(classes == ACCURATE)),
            "candidate_fraction": float(np.mean(classes == CANDIDATE)),
            "failed_fraction": float(np.mean(classes == FAILED))}


def pick(classes: np.ndarray, max_select: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most `max_select` candidates, at random, in ascending order."""
    cand = np.flatnonzero(classes == CANDIDATE)
    if len(cand) > max_select:
        cand = np.sort(rng.choice(cand, int(max_select), replace=False))
    return cand


def converged(accurate_fraction: float, threshold: float) -> bool:
    return not math.isnan(accurate_fraction) and accurate_fraction >= threshold
