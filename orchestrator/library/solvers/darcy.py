"""Steady 2-D conduction (Darcy flow) on the unit square, the reference solver of
workflows/heat-surrogate and of the sparse-solve step:

    -div(k grad u) = f   in (0, 1)^2,     u = 0 on the boundary,

on an N x N interior grid (spacing h = 1/(N+1)), 5-point finite volumes with the
harmonic mean of k on each face (the boundary faces take the cell's own k).

Two problems, chosen by the kind of input field (orchestrator.library.fields):
- `lognormal` / `threshold`: Darcy flow with a random conductivity k and f = 1 (the
  problem of the Fourier Neural Operator paper's Darcy benchmark, whose fields are
  two-phase, {3, 12}, at s = 85);
- `source`: k = 1 and a random source f (the Poisson problem of the library's heat
  solver), whose Jacobi sweeps run through the kernel layer
  (orchestrator.library.kernels: SYCL on the stage's device, numba, NumPy), with a
  NumPy fallback when that layer is absent.

Two iterative solvers, both stopped at the relative residual ||f - A u|| / ||f|| <= tol:
`cg` (conjugate gradients with a diagonal preconditioner, SciPy) and `jacobi`
(plain Jacobi; converges in O(N^2 log(1/tol)) sweeps, the slow classic baseline).
`solve_linear` adds the sparse methods of the sparse-solve step: `direct` (SciPy's
SuperLU) and `amg` (PyAMG's smoothed aggregation as the preconditioner of CG), beside
`cg` (docs/decisions.md, "Sparse solves: SciPy's direct solver and PyAMG").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

SOLVERS = ("cg", "jacobi")  # the iterative reference solvers (`solve`)
LINEAR_METHODS = ("direct", "amg", "cg")  # the sparse methods (`solve_linear`)
CHECK_EVERY = 100  # Jacobi sweeps between residual checks


@dataclass
class Solve:
    u: np.ndarray
    iterations: int
    residual: float  # relative residual ||f - A u||_2 / ||f||_2
    converged: bool
    seconds: float
    backend: str


def problem(field: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(k, f) for an input field of `kind`."""
    field = np.asarray(field, dtype=np.float64)
    if kind == "source":
        return np.ones_like(field), field
    return field, np.ones_like(field)


def face_conductivities(k: np.ndarray) -> tuple[np.ndarray, ...]:
    """Harmonic means of k across the north, south, west and east faces of every cell."""
    kp = np.pad(k, 1, mode="edge")
    c = kp[1:-1, 1:-1]

    def hmean(other: np.ndarray) -> np.ndarray:
        return 2.0 * c * other / (c + other)

    return hmean(kp[:-2, 1:-1]), hmean(kp[2:, 1:-1]), hmean(kp[1:-1, :-2]), hmean(kp[1:-1, 2:])


def apply_operator(u: np.ndarray, k: np.ndarray) -> np.ndarray:
    """A u = -div(k grad u) with u = 0 outside the grid (leading dims are batch dims)."""
    n = u.shape[-1]
    h2 = (1.0 / (n + 1)) ** 2
    kn, ks, kw, ke = face_conductivities(k)
    pad = [(0, 0)] * (u.ndim - 2) + [(1, 1), (1, 1)]
    up = np.pad(u, pad)
    c = up[..., 1:-1, 1:-1]
    out = (kn * (c - up[..., :-2, 1:-1]) + ks * (c - up[..., 2:, 1:-1])
           + kw * (c - up[..., 1:-1, :-2]) + ke * (c - up[..., 1:-1, 2:]))
    return out / h2


def relative_residual(u: np.ndarray, k: np.ndarray, f: np.ndarray) -> float:
    norm = float(np.linalg.norm(f))
    return float(np.linalg.norm(f - apply_operator(u, k))) / (norm if norm > 0 else 1.0)


def matrix(k: np.ndarray) -> Any:
    """The sparse (N^2 x N^2) matrix of the operator, row-major unknowns."""
    import scipy.sparse as sp

    n = k.shape[0]
    h2 = (1.0 / (n + 1)) ** 2
    kn, ks, kw, ke = (a / h2 for a in face_conductivities(k))
    diag = (kn + ks + kw + ke).ravel()
    north = -kn.ravel()[n:]          # coupling (i, j) - (i-1, j)
    west = -kw.copy()
    west[:, 0] = 0.0                 # no coupling across the left edge
    west = west.ravel()[1:]
    return sp.diags([diag, west, west, north, north], [0, -1, 1, -n, n], format="csr")


def solve_cg(k: np.ndarray, f: np.ndarray, tol: float, max_iterations: int) -> Solve:
    import scipy.sparse.linalg as spla

    start = time.perf_counter()
    a = matrix(k)
    inv_diag = 1.0 / a.diagonal()
    precond = spla.LinearOperator(a.shape, matvec=lambda x: inv_diag * x)
    count = [0]

    def tick(_: Any) -> None:
        count[0] += 1

    b = f.ravel()
    try:
        x, _info = spla.cg(a, b, rtol=tol, atol=0.0, maxiter=max_iterations, M=precond,
                           callback=tick)
    except TypeError:  # SciPy < 1.12 calls it tol
        x, _info = spla.cg(a, b, tol=tol, atol=0.0, maxiter=max_iterations, M=precond,
                           callback=tick)
    u = x.reshape(k.shape)
    seconds = time.perf_counter() - start
    res = relative_residual(u, k, f)
    return Solve(u, count[0], res, res <= tol * 1.01, seconds, "scipy-cg")


def solve_jacobi_variable(k: np.ndarray, f: np.ndarray, tol: float,
                          max_iterations: int) -> Solve:
    """Jacobi for variable k in NumPy: u <- (h^2 f + sum k_face u_neighbour) / sum k_face."""
    start = time.perf_counter()
    n = k.shape[0]
    h2 = (1.0 / (n + 1)) ** 2
    kn, ks, kw, ke = face_conductivities(k)
    inv_diag = 1.0 / (kn + ks + kw + ke)
    hf = h2 * f
    cur, nxt = np.zeros((n + 2, n + 2)), np.zeros((n + 2, n + 2))
    tmp = np.empty((n, n))
    it, res = 0, float("inf")
    while it < max_iterations:
        for _ in range(min(CHECK_EVERY, max_iterations - it)):
            o = nxt[1:-1, 1:-1]
            np.multiply(kn, cur[:-2, 1:-1], out=o)
            o += np.multiply(ks, cur[2:, 1:-1], out=tmp)
            o += np.multiply(kw, cur[1:-1, :-2], out=tmp)
            o += np.multiply(ke, cur[1:-1, 2:], out=tmp)
            o += hf
            o *= inv_diag
            cur, nxt = nxt, cur
            it += 1
        res = relative_residual(cur[1:-1, 1:-1], k, f)
        if res <= tol:
            break
    u = cur[1:-1, 1:-1].copy()
    return Solve(u, it, res, res <= tol, time.perf_counter() - start, "numpy")


def kernel_jacobi() -> Any:
    """The kernel layer's Jacobi class, or None when it is not importable."""
    try:
        from orchestrator.library.kernels import Jacobi
    except ImportError:
        return None
    return Jacobi


def solve_jacobi_poisson(f: np.ndarray, tol: float, max_iterations: int,
                         backend: str = "auto") -> Solve:
    """Jacobi for k = 1 through the kernel layer (padded grid, fixed zero boundary)."""
    jacobi = kernel_jacobi()
    k = np.ones_like(f)
    if jacobi is None:
        return solve_jacobi_variable(k, f, tol, max_iterations)
    start = time.perf_counter()
    n = f.shape[0]
    run = jacobi(np.zeros((n + 2, n + 2)), np.pad(f, 1), 1.0 / (n + 1), backend=backend)
    it, res, u = 0, float("inf"), np.zeros_like(f)
    while it < max_iterations:
        sweeps = min(CHECK_EVERY, max_iterations - it)
        run.sweep(sweeps)
        it += sweeps
        u = run.array()[1:-1, 1:-1]
        res = relative_residual(u, k, f)
        if res <= tol:
            break
    return Solve(u, it, res, res <= tol, time.perf_counter() - start, str(run.backend))


def warm_up(kind: str, solver: str, backend: str = "auto") -> float:
    """Compile what a solve will need (the SYCL/numba kernels JIT once per process), so
    that a timed solve measures the solve; returns the seconds it took."""
    start = time.perf_counter()
    if kind == "source" and solver == "jacobi":
        solve_jacobi_poisson(np.ones((4, 4)), 1e-3, 10, backend)
    return time.perf_counter() - start


def solve(field: np.ndarray, kind: str, solver: str = "cg", tol: float = 1e-6,
          max_iterations: int = 1_000_000, backend: str = "auto") -> Solve:
    """Solve for one input field; `backend` picks the kernel layer's backend (Poisson
    Jacobi only: auto, sycl, numba, numpy)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    k, f = problem(field, kind)
    if solver == "cg":
        return solve_cg(k, f, tol, max_iterations)
    if kind == "source":
        return solve_jacobi_poisson(f, tol, max_iterations, backend)
    return solve_jacobi_variable(k, f, tol, max_iterations)


def solve_direct(k: np.ndarray, f: np.ndarray) -> Solve:
    """Sparse LU (SciPy's SuperLU): exact up to round-off, no tolerance."""
    import scipy.sparse.linalg as spla

    start = time.perf_counter()
    u = spla.spsolve(matrix(k).tocsc(), f.ravel()).reshape(k.shape)
    seconds = time.perf_counter() - start
    return Solve(u, 1, relative_residual(u, k, f), True, seconds, "scipy-superlu")


def solve_amg(k: np.ndarray, f: np.ndarray, tol: float, max_iterations: int) -> Solve:
    """Conjugate gradients preconditioned by one V-cycle of PyAMG's smoothed aggregation
    (the matrix is symmetric positive definite); stopped at relative residual `tol`."""
    try:
        import pyamg
    except ImportError as exc:  # pragma: no cover (a core dependency)
        raise ImportError(f"method amg needs PyAMG: pip install pyamg ({exc})") from exc
    start = time.perf_counter()
    a = matrix(k)
    levels = pyamg.smoothed_aggregation_solver(a, symmetry="symmetric")
    history: list[float] = []
    x = levels.solve(f.ravel(), tol=tol, maxiter=max_iterations, accel="cg",
                     residuals=history)
    u = x.reshape(k.shape)
    seconds = time.perf_counter() - start
    res = relative_residual(u, k, f)
    return Solve(u, max(0, len(history) - 1), res, res <= tol * 1.01, seconds,
                 f"pyamg-sa ({len(levels.levels)} levels)")


def solve_linear(field: np.ndarray, kind: str, method: str = "direct", tol: float = 1e-8,
                 max_iterations: int = 10_000) -> Solve:
    """Solve for one input field with a sparse method: `direct`, `amg` or `cg`."""
    k, f = problem(field, kind)
    if method == "direct":
        return solve_direct(k, f)
    if method == "amg":
        return solve_amg(k, f, tol, max_iterations)
    if method == "cg":
        return solve_cg(k, f, tol, max_iterations)
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(LINEAR_METHODS)}")


def refined_points(points: int, factor: int) -> int:
    """Points per side (boundary included) of the fine grid whose every `factor`-th point
    is a `points`-per-side grid: factor (points - 1) + 1 (the FNO paper: 5 x 84 + 1 = 421
    for 85)."""
    if points < 2 or factor < 1:
        raise ValueError(f"need points >= 2 and factor >= 1, got {points}, {factor}")
    return factor * (points - 1) + 1


def solve_subsampled(field: np.ndarray, factor: int, kind: str = "threshold",
                     method: str = "direct", tol: float = 1e-10) -> np.ndarray:
    """Solve on the fine grid of `field` and keep every `factor`-th point.

    `field` is (M, M) on x_i = i / (M - 1), boundary points included (the FNO paper's
    convention: its 421 x 421 arrays). The problem is solved on the M - 2 interior
    points (h = 1 / (M - 1), `solve_linear`), padded with the zero boundary values, and
    subsampled to (M - 1) / factor + 1 points per side, boundary included (421 -> 85 for
    factor 5). `factor` must divide M - 1."""
    field = np.asarray(field, dtype=np.float64)
    m = field.shape[-1]
    if field.shape != (m, m) or m < 3:
        raise ValueError(f"field must be square with >= 3 points per side, got {field.shape}")
    if factor < 1 or (m - 1) % factor:
        raise ValueError(f"factor {factor} must divide points - 1 = {m - 1}")
    inner = solve_linear(field[1:-1, 1:-1], kind, method, tol=tol)
    if not inner.converged:
        raise RuntimeError(f"{method} solve did not converge: residual {inner.residual:.2e}")
    return np.pad(inner.u, 1)[::factor, ::factor]
