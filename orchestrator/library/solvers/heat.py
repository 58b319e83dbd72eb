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


def _iterate(u: np.ndarray, f: np.ndarray, h: float, tol: float, max_iterations: int,
             exchange: Callable[[np.ndarray], None], reduce_max: Callable[[float], float],
             check_every: int) -> tuple[np.ndarray, int, float, bool]:
    """The Jacobi loop shared by the serial and the distributed solver, on the NumPy
    sweep of kernels.jacobi (one stencil for the library, in a fixed order of additions,
    the same for every decomposition, with no temporaries).

    `f` is the slab's source values (rows, n); `exchange` refreshes the halo rows of the
    current iterate in place (a no-op when serial); `reduce_max` turns this slab's update
    norm into the global one (the identity when serial). Convergence is tested every
    `check_every` iterations and at the last, on every rank alike, so all ranks stop at
    the same iteration.
    """
    padded = np.zeros_like(u)
    padded[1:-1, 1:-1] = f
    jac = NumpyJacobi(u, padded, *jacobi_scalars(u.dtype, h))
    diff = np.empty_like(f)
    residual = float("inf")
    for iteration in range(1, max_iterations + 1):
        exchange(jac.cur)
        jac.sweep(1)
        if iteration % check_every and iteration != max_iterations:
            continue
        np.subtract(jac.cur[1:-1, 1:-1], jac.nxt[1:-1, 1:-1], out=diff)
        np.abs(diff, out=diff)
        residual = reduce_max(float(diff.max()) if diff.size else 0.0)
        if residual <= tol:
            return jac.cur, iteration, residual, True
    return jac.cur, max_iterations, residual, False


def _iterate_kernel(u: np.ndarray, f: np.ndarray, h: float, tol: float, max_iterations: int,
                    exchange: Callable[[Any], None], reduce_max: Callable[[float], float],
                    check_every: int, backend: str) -> tuple[np.ndarray, int, float, bool, str]:
    """`_iterate` on the kernel layer: the slab lives on the backend's device (a SYCL
    queue per process, so each MPI rank has its own); only halo rows travel between
    sweeps, and whole iterates only at convergence checks. Same update, same order of
    additions, same stopping rule as the NumPy loop."""
    from orchestrator.library.kernels import Jacobi

    padded = np.zeros_like(u)
    padded[1:-1, 1:-1] = f
    jac = Jacobi(u, padded, h, backend=backend)
    residual = float("inf")
    for iteration in range(1, max_iterations + 1):
        exchange(jac)
        check = not (iteration % check_every and iteration != max_iterations)
        before = jac.array() if check else None
        jac.sweep(1)
        if not check:
            continue
        after = jac.array()
        interior = np.abs(after[1:-1, 1:-1] - before[1:-1, 1:-1])
        residual = reduce_max(float(interior.max()) if interior.size else 0.0)
        if residual <= tol:
            return after, iteration, residual, True, str(jac.backend)
    return jac.array(), max_iterations, residual, False, str(jac.backend)


def solve_serial(n: int, f: Source = None, tol: float = 1e-8, max_iterations: int = 100_000,
                 check_every: int = 1, backend: str = "inline") -> HeatResult:
    """Solve on one process: a single slab whose halo rows are the boundary.

    `backend` "inline" runs the NumPy loop here; "auto", "sycl", "numba" or "numpy" run
    the stencil through `orchestrator.library.kernels` (on the stage's SYCL device when
    there is one)."""
    _check_arguments(n, tol, max_iterations, check_every)
    u = np.zeros((n + 2, n + 2))
    if backend != "inline":
        u, iterations, residual, converged, used = _iterate_kernel(
            u, source_values(f, n, 0, n), 1.0 / (n + 1), tol, max_iterations,
            lambda _: None, lambda r: r, check_every, backend)
        return HeatResult(u[1:-1, 1:-1].copy(), iterations, residual, converged, used)
    u, iterations, residual, converged = _iterate(
        u, source_values(f, n, 0, n), 1.0 / (n + 1), tol, max_iterations, lambda _: None, lambda r: r, check_every)
    return HeatResult(u[1:-1, 1:-1].copy(), iterations, residual, converged)


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
    u = np.zeros((rows + 2, n + 2))
    if backend != "inline":
        def exchange_rows(jac: Any) -> None:
            if rows:
                mpi.exchange_device_rows(w.comm, jac, rows, up, down)

        u, iterations, residual, converged, used = _iterate_kernel(
            u, source_values(f, n, start, rows), 1.0 / (n + 1), tol, max_iterations,
            exchange_rows, mpi.global_max(w.comm), check_every, backend)
        full = mpi.gather_rows(w.comm, u[1:-1, 1:-1], counts, root)
        return HeatResult(full, iterations, residual, converged, used)

    def exchange(slab: np.ndarray) -> None:
        mpi.halo_exchange(w.comm, slab, up, down)

    u, iterations, residual, converged = _iterate(
        u, source_values(f, n, start, rows), 1.0 / (n + 1), tol, max_iterations, exchange, mpi.global_max(w.comm), check_every)
    full = mpi.gather_rows(w.comm, u[1:-1, 1:-1], counts, root)
    return HeatResult(full, iterations, residual, converged)


def discretisation_error(n: int, tol: float = 1e-12, max_iterations: int = 1_000_000) -> float:
    """Max-norm error of the serial solve against sin(πx) sin(πy): O(h²) once the
    iteration has converged well below it."""
    result = solve_serial(n, None, tol, max_iterations)
    return float(np.max(np.abs(result.u - exact_sine(n))))
