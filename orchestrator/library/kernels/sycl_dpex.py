"""numba-dpex (SYCL) versions of the kernels, run on a dpctl queue.

Importing this module imports dpctl and numba_dpex: the process must have the oneAPI
environment (orchestrator.library.sycl_env). Kernels are compiled to SPIR-V on first
call per process and argument types (about 0.6 s each; numba-dpex 0.23 keeps them in
memory only). Scalars arrive already converted to the array dtype, so float32 kernels
compute in float32, as the NumPy reference does.
"""

from __future__ import annotations

import time
from typing import Any

import dpctl
import dpctl.tensor as dpt
import numba_dpex as dpex
import numpy as np

from orchestrator.library.kernels import pair_loop
from orchestrator.library.kernels.backend import import_numba_dpex

import_numba_dpex()  # the launcher fix (dpex_launch) must precede the first call_kernel


@dpex.kernel
def _jacobi(item, u, f, out, h2, quarter):  # pragma: no cover (compiled)
    i = item.get_id(0) + 1
    j = item.get_id(1) + 1
    out[i, j] = quarter * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]
                           + h2 * f[i, j])


@dpex.kernel
def _add_copy(item, u, f, out):  # pragma: no cover (compiled)
    i = item.get_id(0) + 1
    j = item.get_id(1) + 1
    out[i, j] = u[i, j] + f[i, j]


@dpex.kernel
def _noop(item, a):  # pragma: no cover (compiled)
    i = item.get_id(0)
    if i < 0:  # never true: the kernel does nothing, its cost is the launch
        a[0] = a[0]


@dpex.kernel
def _lj(item, pos, box, inv_box, rc2, sig2, eps4, eps24, eshift, half, forces,
        epart):  # pragma: no cover (compiled)
    """The pair loop (kernels.pair_loop) with the LJ term, one work item per particle."""
    pair_loop.row(item.get_id(0), pair_loop.LJ, pos, box, inv_box, rc2, half, sig2, eps4,
                  eps24, eshift, epart, epart, forces, epart)


@dpex.kernel
def _table(item, pos, box, inv_box, rc2, r0, inv_dr, kmax, half, etab, ftab, forces,
           epart):  # pragma: no cover (compiled)
    """The pair loop with the tabulated term. Both kernels keep the argument lists they
    had before the loop was shared: numba-dpex's launcher lays out its stack by them, and
    tests/xpu reproduces issue 13 (without the launcher fix) on exactly this layout."""
    pair_loop.row(item.get_id(0), pair_loop.TABLE, pos, box, inv_box, rc2, half, r0, inv_dr,
                  kmax, half + half, etab, ftab, forces, epart)


def _interior(shape: tuple[int, ...]) -> Any | None:
    """The index space of the interior points (None when there are none)."""
    n, m = shape[0] - 2, shape[1] - 2
    return dpex.Range(n, m) if n > 0 and m > 0 else None


class SyclJacobi:
    """Two device buffers (both holding the fixed boundary) and f, on one queue; sweeps
    alternate between the buffers and nothing moves to the host until `array()`."""

    def __init__(self, u: np.ndarray, f: np.ndarray, h2: Any, quarter: Any,
                 queue: dpctl.SyclQueue):
        self.queue = queue
        self.cur = dpt.asarray(u, sycl_queue=queue, copy=True)
        self.nxt = dpt.copy(self.cur)
        self.f = dpt.asarray(f, sycl_queue=queue, copy=True)
        self.h2, self.quarter = h2, quarter
        self.range = _interior(u.shape)

    def sweep(self, sweeps: int = 1) -> None:
        if self.range is None:
            return
        for _ in range(sweeps):
            dpex.call_kernel(_jacobi, self.range, self.cur, self.f, self.nxt, self.h2,
                             self.quarter)
            self.cur, self.nxt = self.nxt, self.cur

    def array(self) -> np.ndarray:
        return dpt.asnumpy(self.cur)

    def get_rows(self, start: int, stop: int) -> np.ndarray:
        return dpt.asnumpy(self.cur[start:stop, :])

    def set_rows(self, start: int, rows: np.ndarray) -> None:
        self.cur[start:start + rows.shape[0], :] = rows


def add_copy_runner(u: np.ndarray, f: np.ndarray, queue: dpctl.SyclQueue):
    """A callable running the bandwidth reference kernel (out = u + f on the interior) on
    device copies of u and f."""
    du = dpt.asarray(u, sycl_queue=queue, copy=True)
    df = dpt.asarray(f, sycl_queue=queue, copy=True)
    out = dpt.empty_like(du)
    rng = _interior(u.shape)
    return lambda: dpex.call_kernel(_add_copy, rng, du, df, out)


def launch_overhead(queue: dpctl.SyclQueue, repeats: int = 200) -> list[float]:
    """Seconds per launch of an empty kernel (after its JIT), submission to completion."""
    a = dpt.zeros(1, dtype="f4", sycl_queue=queue)
    dpex.call_kernel(_noop, dpex.Range(1), a)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        dpex.call_kernel(_noop, dpex.Range(1), a)
        times.append(time.perf_counter() - t)
    return times


def _pairs(kernel, pos: np.ndarray, scalars: tuple, tables: tuple,
           queue: dpctl.SyclQueue) -> tuple[np.ndarray, np.ndarray]:
    """Run a pair kernel: (forces, per-particle energies) on the device."""
    n = pos.shape[0]
    dpos = dpt.asarray(pos, sycl_queue=queue, copy=True)
    dtabs = [dpt.asarray(t, sycl_queue=queue, copy=True) for t in tables]
    forces = dpt.zeros((n, 3), dtype=pos.dtype, sycl_queue=queue)
    epart = dpt.zeros(n, dtype=pos.dtype, sycl_queue=queue)
    if n:
        dpex.call_kernel(kernel, dpex.Range(n), dpos, *scalars, *dtabs, forces, epart)
    return dpt.asnumpy(forces), dpt.asnumpy(epart)


def lj_forces(pos: np.ndarray, scalars: tuple, queue: dpctl.SyclQueue
              ) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) on the device; `scalars` in the dtype of pos."""
    return _pairs(_lj, pos, scalars, (), queue)


def table_forces(pos: np.ndarray, scalars: tuple, etab: np.ndarray, ftab: np.ndarray,
                 queue: dpctl.SyclQueue) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) of a tabulated pair potential on the device."""
    return _pairs(_table, pos, scalars, (etab, ftab), queue)
