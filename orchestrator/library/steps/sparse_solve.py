"""sparse-solve: solve the Darcy (or Poisson) system of every field of a fields file with
a sparse method of orchestrator.library.solvers.darcy: `direct` (SciPy's SuperLU),
`amg` (PyAMG smoothed aggregation preconditioning CG) or `cg` (diagonal preconditioning).

Writes solutions.npz (`solutions`, (n, N, N)) and residuals.json (per field: relative
residual ||f - A u|| / ||f||, iterations, seconds). A field whose iterative solve does
not reach `tolerance` fails the task (retries apply), so no unconverged solution leaves it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from orchestrator.library.stage_io import task_dir

SOLUTIONS = "solutions.npz"
RESIDUALS = "residuals.json"


def solve(fields: str, kind: str = "lognormal", method: str = "direct",
          tolerance: float = 1e-8, max_iterations: int = 10_000, fields_key: str = "fields",
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Solve every field of `fields` (an .npz with `fields_key`, (n, N, N))."""
    from orchestrator.library.solvers import darcy

    with np.load(fields) as data:
        x = np.asarray(data[fields_key], dtype=np.float64)
    results = [darcy.solve_linear(f, kind, method, float(tolerance), int(max_iterations))
               for f in x]
    per_field = [{"residual": r.residual, "iterations": r.iterations, "seconds": r.seconds,
                  "converged": r.converged} for r in results]
    failed = [i for i, r in enumerate(results) if not r.converged]
    if failed:
        raise RuntimeError(f"{method}: field {failed[0]} stopped at relative residual "
                           f"{results[failed[0]].residual:.3g} > {tolerance} ({len(failed)} "
                           f"of {len(x)} fields unconverged)")
    out = task_dir(context)
    np.savez(out / SOLUTIONS, solutions=np.stack([r.u for r in results]))
    summary = {"method": method, "backend": results[0].backend if results else method,
               "kind": kind, "tolerance": float(tolerance), "fields": len(x),
               "residual_max": max((r.residual for r in results), default=0.0),
               "iterations_max": max((r.iterations for r in results), default=0),
               "seconds": float(sum(r.seconds for r in results))}
    (out / RESIDUALS).write_text(json.dumps({**summary, "per_field": per_field}, indent=1))
    return {**summary, "solutions": str(out / SOLUTIONS)}
