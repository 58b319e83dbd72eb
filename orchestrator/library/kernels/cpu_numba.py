"""numba CPU versions of the kernels (parallel over rows / particles, cached on disk).

Same arithmetic, in the same order, as the NumPy references and the SYCL kernels:
scalars arrive already converted to the array dtype, so float32 stays float32.
"""

from __future__ import annotations

import math

import numba
import numpy as np

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
def lj_forces(pos, box, inv_box, rc2, sig2, eps4, eps24, eshift, half, forces,
              epart):  # pragma: no cover (compiled)
    """Lennard-Jones forces and per-particle energies (half of each pair's energy), all
    pairs within the cutoff under the minimum image convention."""
    n = pos.shape[0]
    zero = half - half
    for i in numba.prange(n):
        fx = zero
        fy = zero
        fz = zero
        e = zero
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2]
        for j in range(n):
            if j == i:
                continue
            dx = xi - pos[j, 0]
            dy = yi - pos[j, 1]
            dz = zi - pos[j, 2]
            dx -= box * math.floor(dx * inv_box + half)
            dy -= box * math.floor(dy * inv_box + half)
            dz -= box * math.floor(dz * inv_box + half)
            r2 = dx * dx + dy * dy + dz * dz
            if r2 < rc2:
                inv_r2 = sig2 / r2
                s6 = inv_r2 * inv_r2 * inv_r2
                s12 = s6 * s6
                e += half * (eps4 * (s12 - s6) - eshift)
                g = eps24 * (s12 + s12 - s6) / r2
                fx += g * dx
                fy += g * dy
                fz += g * dz
        forces[i, 0] = fx
        forces[i, 1] = fy
        forces[i, 2] = fz
        epart[i] = e


@numba.njit(**_JIT)
def table_forces(pos, box, inv_box, rc2, r0, inv_dr, kmax, half, etab, ftab, forces,
                 epart):  # pragma: no cover (compiled)
    """Forces and per-particle energies (half of each pair's) of a linearly interpolated
    tabulated pair potential (kernels.pair_table)."""
    n = pos.shape[0]
    zero = half - half
    one = half + half
    for i in numba.prange(n):
        fx = zero
        fy = zero
        fz = zero
        e = zero
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2]
        for j in range(n):
            if j == i:
                continue
            dx = xi - pos[j, 0]
            dy = yi - pos[j, 1]
            dz = zi - pos[j, 2]
            dx -= box * math.floor(dx * inv_box + half)
            dy -= box * math.floor(dy * inv_box + half)
            dz -= box * math.floor(dz * inv_box + half)
            r2 = dx * dx + dy * dy + dz * dz
            if r2 < rc2:
                t = max((math.sqrt(r2) - r0) * inv_dr, zero)
                kf = min(math.floor(t), kmax)
                w = t - kf
                k = int(kf)
                e += half * ((one - w) * etab[k] + w * etab[k + 1])
                g = (one - w) * ftab[k] + w * ftab[k + 1]
                fx += g * dx
                fy += g * dy
                fz += g * dz
        forces[i, 0] = fx
        forces[i, 1] = fy
        forces[i, 2] = fz
        epart[i] = e
