"""The check of the heat-mpi workflow: the serial and the MPI solution must agree.

The two solves are the mpi-stencil step's stage code (orchestrator.library.steps.
mpi_stencil, over orchestrator.library.solvers.heat); their results carry the path of
solution.npy (`file`), the iteration count and the SHA-256 of the array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orchestrator.library.stage_io import one


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
