"""The 2-D 5-point Jacobi / heat stencil on SYCL, numba or NumPy.

One sweep updates the interior points and keeps the boundary fixed:

    u_new[i, j] = 0.25 * (u[i-1, j] + u[i+1, j] + u[i, j-1] + u[i, j+1] + h^2 f[i, j])

(the Jacobi iteration for -Laplace(u) = f with grid spacing h). Every backend adds in
that order, in the dtype of u (float32 or float64). `Jacobi` keeps the data where its
backend computes (two device buffers swapped between sweeps for SYCL) and copies back
only when asked; `jacobi_sweeps` is the one-call form; `jacobi_numpy` is the reference.

    from orchestrator.library.kernels import jacobi_sweeps
    res = jacobi_sweeps(u, f, h, sweeps=100)       # backend="auto"
    res.u, str(res.backend)                        # ..., "sycl (opencl:cpu:0)"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.library.kernels.backend import Backend, resolve_backend

DTYPES = (np.float32, np.float64)


@dataclass(frozen=True)
class JacobiResult:
    u: np.ndarray
    backend: Backend


def _check(u: Any, f: Any) -> tuple[np.ndarray, np.ndarray]:
    u = np.ascontiguousarray(u)
    if u.ndim != 2:
        raise ValueError(f"u must be a 2-D grid, got shape {u.shape}")
    if u.dtype.type not in DTYPES:
        raise TypeError(f"u must be float32 or float64, got {u.dtype}")
    f = np.ascontiguousarray(f, dtype=u.dtype)
    if f.shape != u.shape:
        raise ValueError(f"f has shape {f.shape}, u has {u.shape}")
    return u, f


def scalars(dtype: np.dtype, h: float) -> tuple[Any, Any]:
    """h^2 and 0.25 in the grid's dtype (so float32 grids compute in float32)."""
    return dtype.type(h * h), dtype.type(0.25)


class NumpyJacobi:
    """The reference: whole-array operations in the stencil's order, no temporaries per
    sweep beyond one preallocated buffer."""

    def __init__(self, u: np.ndarray, f: np.ndarray, h2: Any, quarter: Any):
        self.cur, self.nxt = u.copy(), u.copy()
        self.hf = h2 * f[1:-1, 1:-1]  # h^2 f, computed once (same rounding as the kernels)
        self.quarter = quarter

    def sweep(self, sweeps: int = 1) -> None:
        if min(self.cur.shape) < 3:
            return
        for _ in range(sweeps):
            u, o = self.cur, self.nxt[1:-1, 1:-1]
            np.add(u[:-2, 1:-1], u[2:, 1:-1], out=o)
            o += u[1:-1, :-2]
            o += u[1:-1, 2:]
            o += self.hf
            o *= self.quarter
            self.cur, self.nxt = self.nxt, self.cur

    def array(self) -> np.ndarray:
        return self.cur.copy()

    def get_rows(self, start: int, stop: int) -> np.ndarray:
        return self.cur[start:stop].copy()

    def set_rows(self, start: int, rows: np.ndarray) -> None:
        self.cur[start:start + rows.shape[0]] = rows


class _NumbaJacobi(NumpyJacobi):
    def __init__(self, u: np.ndarray, f: np.ndarray, h2: Any, quarter: Any):
        from orchestrator.library.kernels import cpu_numba

        self._k = cpu_numba
        self.cur, self.nxt = u.copy(), u.copy()
        self.f, self.h2, self.quarter = f, h2, quarter

    def sweep(self, sweeps: int = 1) -> None:
        if min(self.cur.shape) < 3 or sweeps < 1:
            return
        last = self._k.jacobi_sweeps(self.cur, self.nxt, self.f, self.h2, self.quarter, sweeps)
        if last is not self.cur:
            self.cur, self.nxt = self.nxt, self.cur


def make_impl(chosen: Backend, u: np.ndarray, f: np.ndarray, h2: Any, quarter: Any) -> Any:
    """The sweeper of a backend already chosen: what `Jacobi` and the backend self-check
    (kernels.selfcheck) both run."""
    if chosen.name == "sycl":
        from orchestrator.library.kernels.sycl_dpex import SyclJacobi

        return SyclJacobi(u, f, h2, quarter, chosen.queue)
    if chosen.name == "numba":
        return _NumbaJacobi(u, f, h2, quarter)
    return NumpyJacobi(u, f, h2, quarter)


class Jacobi:
    """Jacobi sweeps of one grid on one backend, the data kept on that backend.

    `get_rows`/`set_rows` read and overwrite whole rows of the current iterate (the halo
    rows an MPI solver exchanges between sweeps) without copying the rest."""

    def __init__(self, u: Any, f: Any, h: float, backend: str = "auto", device: Any = None):
        u, f = _check(u, f)
        h2, quarter = scalars(u.dtype, h)
        self.backend = resolve_backend(backend, device, fp64=u.dtype == np.float64,
                                       kernel="jacobi", dtype=u.dtype)
        self._impl = make_impl(self.backend, u, f, h2, quarter)

    def sweep(self, sweeps: int = 1) -> Jacobi:
        self._impl.sweep(sweeps)
        return self

    def array(self) -> np.ndarray:
        """The current iterate, copied to a new host array."""
        return self._impl.array()

    def get_rows(self, start: int, stop: int) -> np.ndarray:
        return self._impl.get_rows(start, stop)

    def set_rows(self, start: int, rows: np.ndarray) -> None:
        self._impl.set_rows(start, np.ascontiguousarray(rows, dtype=self._dtype))

    @property
    def _dtype(self) -> np.dtype:
        return self._impl.cur.dtype


def jacobi_sweeps(u: Any, f: Any, h: float, sweeps: int = 1, backend: str = "auto",
                  device: Any = None) -> JacobiResult:
    """`sweeps` Jacobi sweeps of u (not modified) with source f; the data stays on the
    device between sweeps and comes back once."""
    run = Jacobi(u, f, h, backend, device)
    run.sweep(sweeps)
    return JacobiResult(run.array(), run.backend)


def jacobi_numpy(u: Any, f: Any, h: float, sweeps: int = 1) -> np.ndarray:
    """The NumPy reference for `jacobi_sweeps`."""
    u, f = _check(u, f)
    run = NumpyJacobi(u, f, *scalars(u.dtype, h))
    run.sweep(sweeps)
    return run.array()
