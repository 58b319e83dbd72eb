"""Stage code of the heat-mpi workflow: a serial and an MPI solve, then a comparison.

Python stages are called with their `args` as keyword arguments plus, when they ask
for them, `results` (upstream results) and `context` (task id, task directory; on a
multi-rank stage also `rank` and `size`). A stage with `ranks > 1` runs on every rank
with the same arguments; only rank 0 writes files, and rank 0's return value is the
task's result. The solver lives in `orchestrator.library.solvers.heat`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.solvers import heat
from orchestrator.library.stage_io import one

SOLUTION = "solution.npy"


def solve_serial(grid: int, tolerance: float, max_iterations: int, backend: str = "auto",
                 check_every: int = 10, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reference solve on one process, written to solution.npy in the task directory."""
    started = time.perf_counter()
    result = heat.solve_serial(int(grid), None, float(tolerance), int(max_iterations),
                               check_every=int(check_every), backend=backend)
    seconds = time.perf_counter() - started
    return _report(result, seconds, 1, context)


def solve_mpi(grid: int, tolerance: float, max_iterations: int, backend: str = "auto",
              check_every: int = 10,
              context: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Distributed solve over MPI.COMM_WORLD (every rank runs this); rank 0 gathers the
    solution, writes it and returns the result, the other ranks return None."""
    from mpi4py import MPI  # here, not at import: the serial stages must not need MPI

    comm = MPI.COMM_WORLD
    comm.Barrier()  # time the solve, not the ranks' start-up skew
    started = time.perf_counter()
    result = heat.solve_distributed(int(grid), None, float(tolerance), int(max_iterations),
                                    comm=comm, check_every=int(check_every), backend=backend)
    seconds = time.perf_counter() - started
    if comm.Get_rank() != 0:
        return None
    return _report(result, seconds, comm.Get_size(), context)


def compare(agreement: float = 1e-10, results: dict[str, list[Any]] | None = None,
            **_: Any) -> dict[str, Any]:
    """Load both solutions and check they agree; raise if they do not (fails the task)."""
    serial = one(results, "solve_serial", dict)
    parallel = one(results, "solve_mpi", dict)
    a, b = np.load(serial["file"]), np.load(parallel["file"])
    if a.shape != b.shape:
        raise RuntimeError(f"solutions differ in shape: serial {a.shape}, mpi {b.shape}")
    max_abs_diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    agree = max_abs_diff <= float(agreement)
    same_iterations = serial["iterations"] == parallel["iterations"]
    summary = {
        "max_abs_diff": max_abs_diff,
        "agree": agree,
        "iterations": serial["iterations"],
        "iterations_mpi": parallel["iterations"],
        "ranks": parallel["ranks"],
        "identical": serial["checksum"] == parallel["checksum"],
        "speedup": serial["seconds"] / parallel["seconds"] if parallel["seconds"] else None,
    }
    if not (agree and same_iterations):
        raise RuntimeError(f"serial and MPI solutions disagree: {summary}")
    return summary


def _report(result: heat.HeatResult, seconds: float, ranks: int,
            context: dict[str, Any] | None) -> dict[str, Any]:
    """Write the solution next to the task and describe it for downstream stages."""
    task_dir = Path((context or {}).get("task_dir") or Path.cwd())
    path = (task_dir / SOLUTION).resolve()
    np.save(path, result.u)
    return {
        "iterations": result.iterations,
        "residual": result.residual,
        "converged": result.converged,
        "seconds": seconds,
        "ranks": ranks,
        "backend": result.backend,
        "file": str(path),
        "checksum": hashlib.sha256(np.ascontiguousarray(result.u).tobytes()).hexdigest(),
    }

