"""sample -> simulate[i] -> dataset: the data half (train is the fno-train step,
orchestrator.library.steps.fno_train).

Files travel between stages by absolute path in the results (each task writes into its
own directory); arrays are float64 on disk, float32 in the network.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from orchestrator.library import fields
from orchestrator.library.fields import features
from orchestrator.library.solvers import darcy as solver_mod
from orchestrator.library.stage_io import one, task_dir

FIELDS = "fields.npz"
SOLUTION = "solution.npy"
DATASET = "dataset.npz"
MAX_ITERATIONS = 2_000_000

_warm: set[tuple[str, str]] = set()  # (kind, solver) compiled in this worker process


def sample(n: int, grid: int, field: str = "lognormal", correlation_length: float = 0.1,
           contrast: float = 10.0, seed: int = 0,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Draw n input fields of the training stream (fields.STREAMS) into fields.npz."""
    start = time.perf_counter()
    x = fields.sample_fields(field, int(n), int(grid), float(correlation_length),
                             float(contrast), int(seed), fields.STREAMS["train"])
    path = task_dir(context) / FIELDS
    np.savez(path, fields=x)
    return {"fields": str(path), "n": int(n), "grid": int(grid), "kind": field,
            "seed": int(seed), "stream": fields.STREAMS["train"],
            "correlation_length": float(correlation_length), "contrast": float(contrast),
            "min": float(x.min()), "max": float(x.max()),
            "seconds": time.perf_counter() - start}


def simulate(index: int, solver: str = "cg", tolerance: float = 1e-6,
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Solve sample `index` to `tolerance`; writes solution.npy. A solve that does not
    converge fails the task (retries apply), so no unconverged solution is trained on."""
    info = one(results, "sample")
    kind = info["kind"]
    with np.load(info["fields"]) as data:
        x = data["fields"][int(index)]
    warm = 0.0
    if (kind, solver) not in _warm:  # JIT of the kernel layer: once per worker, untimed
        warm = solver_mod.warm_up(kind, solver)
        _warm.add((kind, solver))
    res = solver_mod.solve(x, kind, solver, float(tolerance), MAX_ITERATIONS)
    if not res.converged:
        raise RuntimeError(f"sample {index}: {solver} stopped at relative residual "
                           f"{res.residual:.3g} > {tolerance} after {res.iterations} iterations")
    path = task_dir(context) / SOLUTION
    np.save(path, res.u)
    return {"index": int(index), "solution": str(path), "seconds": res.seconds,
            "residual": res.residual, "iterations": res.iterations, "solver": solver,
            "backend": res.backend, "warmup_seconds": warm}


def dataset(n_test: int, results: dict[str, list[Any]] | None = None,
            context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fan-in: the last n_test samples are held out for evaluate, the rest train."""
    info = one(results, "sample")
    sims = sorted((results or {}).get("simulate") or [], key=lambda r: r["index"])
    n = len(sims)
    n_test = int(n_test)
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and {n - 1} (n_samples - 1), got {n_test}")
    with np.load(info["fields"]) as data:
        x = data["fields"][[r["index"] for r in sims]]
    y = np.stack([np.load(r["solution"]) for r in sims])
    seconds = np.array([r["seconds"] for r in sims])
    split = n - n_test
    path = task_dir(context) / DATASET
    np.savez(path, x_train=features(x[:split], info["kind"]), y_train=y[:split],
             x_test=features(x[split:], info["kind"]), y_test=y[split:], raw_test=x[split:],
             seconds_test=seconds[split:])
    return {"dataset": str(path), "n_train": split, "n_test": n_test, "grid": info["grid"],
            "kind": info["kind"], "solver": sims[0]["solver"], "backend": sims[0]["backend"],
            "data_seconds": float(seconds.sum()),
            "solve_seconds_mean": float(seconds.mean()),
            "solve_seconds_median": float(np.median(seconds)),
            "iterations_mean": float(np.mean([r["iterations"] for r in sims])),
            "residual_max": float(max(r["residual"] for r in sims))}
