"""Steady 2-D heat (Poisson) equation by Jacobi iteration, serial and over MPI.

Solves -Δu = f on the unit square with u = 0 on the boundary, on an N x N interior
grid (spacing h = 1/(N+1), point (i, j) at x = (i+1)h, y = (j+1)h) with the 5-point
stencil. The distributed solver splits the rows into slabs, one per rank, each with
a halo row above and below that is refreshed every iteration (`halo_exchange`).

Both solvers run the same iteration code (`_iterate`) on the same arithmetic, so for
the same inputs they perform bit-identical updates and stop at the same iteration:
the global convergence test takes a max, which is exact in floating point whatever
the decomposition. The distributed result therefore equals the serial one, not just
to round-off.

The convergence measure is the max-norm of the Jacobi update. One update is
u_new - u = (h²/4) (f - A u), with A the 5-point -Δ, so it is the max-norm of the
residual scaled by h²/4; `residual` in the result is this number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.library import mpi
from orchestrator.library.kernels.jacobi import NumpyJacobi
from orchestrator.library.kernels.jacobi import scalars as jacobi_scalars

Source = Callable[[np.ndarray, np.ndarray], np.ndarray] | np.ndarray | float | None


@dataclass
class HeatResult:
    """What a solve returns. `u` is the N x N interior solution (None on the ranks of a
    distributed solve other than the root); `residual` is the max-norm of the last
    update (see the module docstring); `converged` says whether it reached `tol`."""

    u: np.ndarray | None
    iterations: int
    residual: float
    converged: bool
    backend: str = "numpy (inline)"


def sine_source(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f = 2π² sin(πx) sin(πy), whose exact solution is u = sin(πx) sin(πy): the default
    source, so that a solve can be checked against a closed form."""
    return 2.0 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y)


def exact_sine(n: int) -> np.ndarray:
    """u = sin(πx) sin(πy) on the N x N interior grid: the exact solution for
    `sine_source`."""
    x = grid_coordinates(n, 0, n)
    return np.outer(np.sin(np.pi * x), np.sin(np.pi * x))


def grid_coordinates(n: int, start: int, rows: int) -> np.ndarray:
    """Coordinates of interior rows start..start+rows-1; computed the same way on every
    rank so that a slab's source values equal the serial ones bit for bit."""
    h = 1.0 / (n + 1)
    return (np.arange(start, start + rows, dtype=np.float64) + 1.0) * h


def scaled_source(f: Source, n: int, start: int, rows: int) -> np.ndarray:
    """h² f on rows start..start+rows-1 of the grid, as a (rows, n) array: the constant
    term of the Jacobi update. `f` may be a callable f(x, y), an N x N array, a
    number, or None (the sine source)."""
    h = 1.0 / (n + 1)
    return (h * h) * source_values(f, n, start, rows)


def source_values(f: Source, n: int, start: int, rows: int) -> np.ndarray:
    """f on rows start..start+rows-1 of the grid, as a (rows, n) float64 array."""
    if f is None:
        f = sine_source
    if callable(f):
        x = grid_coordinates(n, start, rows)[:, None]
        y = grid_coordinates(n, 0, n)[None, :]
        values = np.broadcast_to(f(x, y), (rows, n))
    elif np.ndim(f) == 0:
        values = np.full((rows, n), float(f))
    else:
        full = np.asarray(f, dtype=np.float64)
        if full.shape != (n, n):
            raise ValueError(f"source array has shape {full.shape}, expected ({n}, {n})")
        values = full[start:start + rows]
    return np.asarray(values, dtype=np.float64)


def _check_arguments(n: int, tol: float, max_iterations: int, check_every: int) -> None:
    """Reject arguments that would make a solve meaningless before allocating anything."""
    if int(n) != n or n < 1:
        raise ValueError(f"grid size n must be a positive integer, got {n!r}")
    if not tol >= 0:  # also rejects NaN
        raise ValueError(f"tolerance must be >= 0, got {tol!r}")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer, got {max_iterations!r}")
    if int(check_every) != check_every or check_every < 1:
        raise ValueError(f"check_every must be a positive integer, got {check_every!r}")


def _iterate(jac: Any, exchange: Callable[[Any], None], update_norm: Callable[[], float],
             reduce_max: Callable[[float], float], tol: float, max_iterations: int,
             check_every: int) -> tuple[int, float, bool]:
    """The Jacobi loop shared by the serial and the distributed solver on every backend:
    (iterations, residual, converged); the solution stays in `jac`.

    `exchange` refreshes the halo rows of the current iterate (a no-op when serial);
    `update_norm` runs one sweep and returns this slab's max-norm of the update;
    `reduce_max` turns it into the global one (the identity when serial). Convergence is
    tested every `check_every` iterations and at the last, on every rank alike, so all
    ranks stop at the same iteration.
    """
    residual = float("inf")
    for iteration in range(1, max_iterations + 1):
        exchange(jac)
        if iteration % check_every and iteration != max_iterations:
            jac.sweep(1)
            continue
        residual = reduce_max(update_norm())
        if residual <= tol:
            return iteration, residual, True
    return max_iterations, residual, False


def _sweeper(u: np.ndarray, f: np.ndarray, h: float,
             backend: str) -> tuple[Any, Callable[[], float], str]:
    """(sweeper, its sweep-and-measure function, backend name) for the slab `u` with source
    values `f` (rows, n).

    "inline" sweeps with the NumPy stencil of kernels.jacobi here, measuring the update
    from its two buffers with no temporaries; any other backend runs `kernels.Jacobi`,
    the slab on the backend's device (a SYCL queue per process, so each MPI rank has its
    own), the iterate copied back only to measure. Both add in the same order, so every
    decomposition and backend performs the same update."""
    padded = np.zeros_like(u)
    padded[1:-1, 1:-1] = f
    if backend == "inline":
        jac = NumpyJacobi(u, padded, *jacobi_scalars(u.dtype, h))
        diff = np.empty_like(f)

        def inline_norm() -> float:
            jac.sweep(1)
            np.subtract(jac.cur[1:-1, 1:-1], jac.nxt[1:-1, 1:-1], out=diff)
            np.abs(diff, out=diff)
            return float(diff.max()) if diff.size else 0.0

        return jac, inline_norm, "numpy (inline)"
    from orchestrator.library.kernels import Jacobi

    device = Jacobi(u, padded, h, backend=backend)

    def copied_norm() -> float:
        before = device.array()
        device.sweep(1)
        after = device.array()
        interior = np.abs(after[1:-1, 1:-1] - before[1:-1, 1:-1])
        return float(interior.max()) if interior.size else 0.0

    return device, copied_norm, str(device.backend)


def solve_serial(n: int, f: Source = None, tol: float = 1e-8, max_iterations: int = 100_000,
                 check_every: int = 1, backend: str = "inline") -> HeatResult:
    """Solve on one process: a single slab whose halo rows are the boundary.

    `backend` "inline" runs the NumPy loop here; "auto", "sycl", "numba" or "numpy" run
    the stencil through `orchestrator.library.kernels` (on the stage's SYCL device when
    there is one)."""
    _check_arguments(n, tol, max_iterations, check_every)
    jac, update_norm, used = _sweeper(np.zeros((n + 2, n + 2)), source_values(f, n, 0, n),
                                      1.0 / (n + 1), backend)
    iterations, residual, converged = _iterate(jac, lambda _: None, update_norm,
                                               lambda r: r, tol, max_iterations, check_every)
    return HeatResult(jac.array()[1:-1, 1:-1].copy(), iterations, residual, converged, used)


def solve_distributed(n: int, f: Source = None, tol: float = 1e-8,
                      max_iterations: int = 100_000, comm: Any = None, root: int = 0,
                      check_every: int = 1, backend: str = "inline") -> HeatResult:
    """Solve with one row slab per rank of `comm` (default COMM_WORLD); every rank must
    call it with the same arguments. The solution is gathered on `root`. `backend` as
    in `solve_serial` (each rank then has its own device queue)."""
    _check_arguments(n, tol, max_iterations, check_every)
    w = mpi.world(comm)
    counts, starts = mpi.split_rows(n, w.size)
    rows, start = counts[w.rank], starts[w.rank]
    up, down = mpi.neighbours(w.rank, min(n, w.size))
    jac, update_norm, used = _sweeper(np.zeros((rows + 2, n + 2)),
                                      source_values(f, n, start, rows), 1.0 / (n + 1), backend)

    def exchange(grid: Any) -> None:
        if backend == "inline":  # the host slab itself, rows sent from its memory
            mpi.halo_exchange(w.comm, grid.cur, up, down)
        elif rows:  # only the boundary rows leave the device
            mpi.exchange_device_rows(w.comm, grid, rows, up, down)

    iterations, residual, converged = _iterate(jac, exchange, update_norm,
                                               mpi.global_max(w.comm), tol, max_iterations,
                                               check_every)
    full = mpi.gather_rows(w.comm, jac.array()[1:-1, 1:-1], counts, root)
    return HeatResult(full, iterations, residual, converged, used)


def discretisation_error(n: int, tol: float = 1e-12, max_iterations: int = 1_000_000) -> float:
    """Max-norm error of the serial solve against sin(πx) sin(πy): O(h²) once the
    iteration has converged well below it."""
    result = solve_serial(n, None, tol, max_iterations)
    return float(np.max(np.abs(result.u - exact_sine(n))))
