"""numba CPU versions of the kernels (parallel over rows / particles, cached on disk).

Same arithmetic, in the same order, as the NumPy references and the SYCL kernels:
scalars arrive already converted to the array dtype, so float32 stays float32.
"""

from __future__ import annotations

import numba
import numpy as np

from orchestrator.library.kernels import pair_loop

_JIT = {"parallel": True, "cache": True, "nogil": True}


@numba.njit(**_JIT)
def jacobi_sweep(u, f, out, h2, quarter):  # pragma: no cover (compiled)
    """out[1:-1, 1:-1] = one 5-point Jacobi sweep of u (the boundary of out is untouched)."""
    n, m = u.shape
    for i in numba.prange(1, n - 1):
        for j in range(1, m - 1):
            out[i, j] = quarter * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]
                                   + h2 * f[i, j])


@numba.njit(**_JIT)
def add_copy(u, f, out):  # pragma: no cover (compiled)
    """The bandwidth reference: reads u and f, writes out, on the same interior points."""
    n, m = u.shape
    for i in numba.prange(1, n - 1):
        for j in range(1, m - 1):
            out[i, j] = u[i, j] + f[i, j]


def jacobi_sweeps(a: np.ndarray, b: np.ndarray, f: np.ndarray, h2, quarter,
                  sweeps: int) -> np.ndarray:
    """`sweeps` sweeps alternating between buffers a and b (both hold the boundary);
    returns the buffer holding the last sweep."""
    for _ in range(sweeps):
        jacobi_sweep(a, f, b, h2, quarter)
        a, b = b, a
    return a


@numba.njit(**_JIT)
def pair_forces(kind, pos, box, inv_box, rc2, half, p0, p1, p2, p3, tab0, tab1, forces,
                epart):  # pragma: no cover (compiled)
    """The pair loop (kernels.pair_loop) over all particles in parallel; compiled and
    cached per pair term `kind`."""
    numba.literally(kind)
    for i in numba.prange(pos.shape[0]):
        pair_loop.row(i, kind, pos, box, inv_box, rc2, half, p0, p1, p2, p3, tab0, tab1,
                      forces, epart)


def lj_forces(pos, box, inv_box, rc2, sig2, eps4, eps24, eshift, half, forces, epart):
    """Lennard-Jones forces and per-particle energies (kernels.lj argument order)."""
    unused = np.zeros(1, dtype=pos.dtype)  # the LJ term reads no table
    pair_forces(pair_loop.LJ, pos, box, inv_box, rc2, half, sig2, eps4, eps24, eshift,
                unused, unused, forces, epart)


def table_forces(pos, box, inv_box, rc2, r0, inv_dr, kmax, half, etab, ftab, forces, epart):
    """Tabulated pair potential forces and per-particle energies (kernels.pair_table)."""
    pair_forces(pair_loop.TABLE, pos, box, inv_box, rc2, half, r0, inv_dr, kmax,
                half + half, etab, ftab, forces, epart)
