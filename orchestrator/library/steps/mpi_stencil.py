"""mpi-stencil: the Jacobi heat solver of orchestrator.library.solvers.heat, on one
process or on every rank of an MPI job (row slabs with halo exchange; rank 0 gathers).

A stage with `ranks > 1` runs `solve` on every rank with the same arguments; only rank 0
writes solution.npy and stats.json, and its return value is the task's result. With one
rank there is no launcher and no MPI: the serial solver runs (the distributed one gives
the same bits, module docstring of solvers.heat).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library import mpi
from orchestrator.library.solvers import heat
from orchestrator.library.stage_io import task_dir

SOLUTION = "solution.npy"
STATS = "stats.json"


def solve(grid: int, tolerance: float, max_iterations: int, backend: str = "auto",
          check_every: int = 10, context: dict[str, Any] | None = None,
          **_: Any) -> dict[str, Any] | None:
    """Solve -Δu = 2π² sin(πx) sin(πy) on a grid x grid interior grid to `tolerance`;
    distributed over MPI.COMM_WORLD when started by an MPI launcher."""
    args = (int(grid), None, float(tolerance), int(max_iterations))
    size = (context or {}).get("size")  # set on the ranks of a multi-rank stage
    if (int(size) > 1) if size is not None else mpi.launched_by_mpi():
        from mpi4py import MPI  # here, not at import: one rank must not need MPI

        comm = MPI.COMM_WORLD
        comm.Barrier()  # time the solve, not the ranks' start-up skew
        started = time.perf_counter()
        result = heat.solve_distributed(*args, comm=comm, check_every=int(check_every),
                                        backend=backend)
        seconds = time.perf_counter() - started
        if comm.Get_rank() != 0:
            return None
        return report(result, seconds, comm.Get_size(), context)
    started = time.perf_counter()
    result = heat.solve_serial(*args, check_every=int(check_every), backend=backend)
    return report(result, time.perf_counter() - started, 1, context)


def report(result: heat.HeatResult, seconds: float, ranks: int,
           context: dict[str, Any] | None) -> dict[str, Any]:
    """Write solution.npy and stats.json in the task directory and describe the solve
    (`error`: max-norm distance to the exact sin(πx) sin(πy))."""
    out = task_dir(context)
    path: Path = out / SOLUTION
    np.save(path, result.u)
    stats = {
        "iterations": result.iterations,
        "residual": result.residual,
        "converged": result.converged,
        "seconds": seconds,
        "ranks": ranks,
        "backend": result.backend,
        "grid": int(result.u.shape[0]),
        "error": float(np.max(np.abs(result.u - heat.exact_sine(result.u.shape[0])))),
        "checksum": hashlib.sha256(np.ascontiguousarray(result.u).tobytes()).hexdigest(),
    }
    (out / STATS).write_text(json.dumps(stats, indent=1))
    return {**stats, "file": str(path)}
