"""Classical baselines at the accuracy that matters: the discretisation error.

A surrogate is only "faster than the solver" if both deliver the same accuracy. Solving
the discrete equations to a residual of 1e-6 buys nothing once the algebraic error is
far below the error of the discretisation itself, so every baseline here is stopped at
the loosest tolerance whose algebraic error stays within the discretisation error:

1. the *discretisation error* of a field is the relative L2 distance between the exact
   discrete solution on its grid (SciPy's sparse direct solve) and a solve of the same
   problem on a grid `FACTOR` (= 5) times finer, read at the coarse points (every 5th
   fine point coincides with a coarse one). The fine problem takes the coarse k (or f)
   as constant over each coarse control volume for two-phase fields (an odd factor puts
   no fine point on a control-volume edge)
   (or, for smooth fields, interpolated bilinearly: `refine`);
2. `stop_rule` picks, for each iterative method, the loosest tolerance of `LADDER` at
   which the algebraic error (against the exact discrete solution) of every calibration
   field is within `fraction` x that field's discretisation error; the direct solver has
   no tolerance (it is exact up to round-off);
3. `time_methods` times each method at its tolerance on the same fields, in this
   process, one after the other (median per sample).

The truth of a field is the fine solution; a baseline stopped by this rule is at most
(1 + fraction) x the discretisation error away from it. NumPy/SciPy/PyAMG only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.library.solvers import darcy

FACTOR = 5  # fine grid: FACTOR * (N + 1) - 1 interior points per side (>= 4x finer)
LADDER = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7, 1e-8)
METHODS = ("direct", "amg", "cg")  # darcy.solve_linear's methods
FINE_DIRECT_MAX = 400  # fine grids up to this side are solved directly, larger ones by AMG


def refine(field_values: np.ndarray, kind: str, factor: int = FACTOR) -> np.ndarray:
    """The field on the grid `factor` x finer. Two-phase fields (`threshold`) are constant
    over each coarse control volume (fine point j lies in coarse cell round(j / factor),
    clipped to the grid); smooth ones (`lognormal`: its log, `source`) are interpolated
    bilinearly between the coarse points and held constant beyond the outermost ones."""
    n = field_values.shape[-1]
    m = factor * (n + 1) - 1
    if kind == "threshold":
        idx = np.clip(np.rint(np.arange(1, m + 1) / factor).astype(int), 1, n) - 1
        return field_values[np.ix_(idx, idx)]
    values = np.log(field_values) if kind == "lognormal" else field_values
    coarse = np.arange(1, n + 1, dtype=float)
    fine = np.arange(1, m + 1, dtype=float) / factor
    rows = np.stack([np.interp(fine, coarse, col) for col in values.T], axis=1)  # (m, n)
    out = np.stack([np.interp(fine, coarse, row) for row in rows])  # (m, m)
    return np.exp(out) if kind == "lognormal" else out


def restrict(fine: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """The fine solution at the coarse points (fine index factor * i)."""
    return fine[factor - 1::factor, factor - 1::factor]


def relative_l2(a: np.ndarray, ref: np.ndarray) -> float:
    norm = float(np.linalg.norm(ref))
    return float(np.linalg.norm(a - ref)) / (norm if norm > 0 else 1.0)


def fine_solution(field_values: np.ndarray, kind: str, factor: int = FACTOR) -> np.ndarray:
    """The reference: the problem solved on the fine grid, read at the coarse points."""
    fine = refine(np.asarray(field_values, dtype=np.float64), kind, factor)
    if fine.shape[0] <= FINE_DIRECT_MAX:
        sol = darcy.solve_linear(fine, kind, "direct")
    else:
        sol = darcy.solve_linear(fine, kind, "amg", tol=1e-10, max_iterations=500)
    return restrict(sol.u, factor)


@dataclass
class Reference:
    """Per field: the exact discrete solution, the fine truth and their distance."""
    exact: np.ndarray  # (n, N, N) direct solves on the coarse grid
    truth: np.ndarray  # (n, N, N) fine solves at the coarse points
    discretisation: np.ndarray  # (n,) relative L2 of exact against truth
    seconds: float = 0.0


def reference(raw: np.ndarray, kind: str, factor: int = FACTOR) -> Reference:
    start = time.perf_counter()
    exact = np.stack([darcy.solve_linear(x, kind, "direct").u for x in raw])
    truth = np.stack([fine_solution(x, kind, factor) for x in raw])
    disc = np.array([relative_l2(e, t) for e, t in zip(exact, truth, strict=True)])
    return Reference(exact, truth, disc, time.perf_counter() - start)


@dataclass
class StopRule:
    """Tolerance per method (None: the direct solver) and the errors it delivered on
    the calibration fields."""
    tolerance: dict[str, float | None]
    algebraic_error_max: dict[str, float]  # max over fields of error vs exact / disc error
    fraction: float
    discretisation_mean: float
    fields: int
    ladder: tuple[float, ...] = field(default=LADDER)

    def to_json(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "fraction": self.fraction,
                "algebraic_over_discretisation_max": self.algebraic_error_max,
                "discretisation_error_mean": self.discretisation_mean,
                "fields": self.fields}


def stop_rule(raw: np.ndarray, kind: str, ref: Reference, fraction: float = 1.0,
              methods: tuple[str, ...] = METHODS) -> StopRule:
    """The loosest tolerance of LADDER per iterative method whose solution is within
    `fraction` x the discretisation error of the exact discrete one on every field."""
    tol: dict[str, float | None] = {}
    worst: dict[str, float] = {}
    for method in methods:
        if method == "direct":
            tol[method] = None
            worst[method] = max(relative_l2(darcy.solve_linear(x, kind, "direct").u, e) / d
                                for x, e, d in zip(raw, ref.exact, ref.discretisation,
                                                   strict=True))
            continue
        for t in LADDER:
            ratios = [relative_l2(darcy.solve_linear(x, kind, method, tol=t).u, e) / d
                      for x, e, d in zip(raw, ref.exact, ref.discretisation, strict=True)]
            if max(ratios) <= fraction:
                tol[method], worst[method] = t, max(ratios)
                break
        else:
            raise RuntimeError(f"{method} does not reach {fraction} x the discretisation "
                               f"error at tolerance {LADDER[-1]}")
    return StopRule(tol, worst, float(fraction), float(ref.discretisation.mean()), len(raw))


def time_methods(raw: np.ndarray, kind: str, rule: StopRule,
                 repeats: int = 3) -> dict[str, float]:
    """Median over `repeats` rounds of the seconds per field of each method at its
    tolerance (methods interleaved round by round, one warm-up solve each)."""
    times: dict[str, list[float]] = {m: [] for m in rule.tolerance}
    for m, t in rule.tolerance.items():
        darcy.solve_linear(raw[0], kind, m, tol=t or 0.0)
    for _ in range(max(1, repeats)):
        for m, t in rule.tolerance.items():
            start = time.perf_counter()
            for x in raw:
                darcy.solve_linear(x, kind, m, tol=t or 0.0)
            times[m].append((time.perf_counter() - start) / len(raw))
    return {m: float(np.median(v)) for m, v in times.items()}


def fastest(times: dict[str, float]) -> tuple[str, float]:
    name = min(times, key=times.__getitem__)
    return name, times[name]


def solve_at(field_values: np.ndarray, kind: str, rule: StopRule, method: str) -> Any:
    """One solve with `method` at its stop-rule tolerance (a darcy.Solve)."""
    return darcy.solve_linear(field_values, kind, method, tol=rule.tolerance[method] or 0.0)
