"""Lennard-Jones pair forces and potential energy in a cubic periodic box.

For every pair closer than the cutoff rc (minimum image convention, rc <= box/2):

    u(r) = 4 eps ((sigma/r)^12 - (sigma/r)^6)  [- u(rc) when shift=True]
    F_i  = sum_j 24 eps (2 (sigma/r)^12 - (sigma/r)^6) / r^2 * (x_i - x_j)

`lj_forces` returns the forces (N, 3) in the dtype of the positions and the total energy
(summed in float64 from per-particle halves); `lj_numpy` is the reference. The kernels
loop over all N^2 pairs (each particle sums its own force, no atomics): meant for the
few thousand particles of the active-learning MD, not for large systems (no cell list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.library.kernels.backend import Backend, resolve_backend

DTYPES = (np.float32, np.float64)
_BLOCK_PAIRS = 1 << 21  # pairs per NumPy block: bounds the reference's memory


@dataclass(frozen=True)
class LJResult:
    forces: np.ndarray
    energy: float
    backend: Backend


def check_positions(pos: Any, box: float, cutoff: float) -> np.ndarray:
    pos = np.ascontiguousarray(pos)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    if pos.dtype.type not in DTYPES:
        raise TypeError(f"positions must be float32 or float64, got {pos.dtype}")
    if not 0 < cutoff <= box / 2:
        raise ValueError(f"the minimum image convention needs 0 < cutoff <= box/2 "
                         f"(cutoff {cutoff}, box {box})")
    return pos


def lj_scalars(dtype: np.dtype, box: float, cutoff: float, epsilon: float, sigma: float,
               shift: bool) -> tuple:
    """(box, 1/box, rc^2, sigma^2, 4 eps, 24 eps, energy shift, 0.5) in `dtype`, the
    argument order of every backend's kernel."""
    s6 = (sigma / cutoff) ** 6
    eshift = 4 * epsilon * (s6 * s6 - s6) if shift else 0.0
    values = (box, 1.0 / box, cutoff * cutoff, sigma * sigma, 4 * epsilon, 24 * epsilon,
              eshift, 0.5)
    return tuple(dtype.type(v) for v in values)


def _numpy(pos: np.ndarray, scalars: tuple) -> tuple[np.ndarray, np.ndarray]:
    box, inv_box, rc2, sig2, eps4, eps24, eshift, half = scalars
    n = pos.shape[0]
    forces = np.zeros((n, 3), dtype=pos.dtype)
    epart = np.zeros(n, dtype=pos.dtype)
    step = max(1, _BLOCK_PAIRS // max(n, 1))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        d = pos[i0:i1, None, :] - pos[None, :, :]
        d -= box * np.floor(d * inv_box + half)
        r2 = d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]
        near = r2 < rc2
        near[np.arange(i1 - i0), np.arange(i0, i1)] = False  # no self-interaction
        r2 = np.where(near, r2, pos.dtype.type(1))
        inv_r2 = sig2 / r2
        s6 = inv_r2 * inv_r2 * inv_r2
        s12 = s6 * s6
        zero = pos.dtype.type(0)
        epart[i0:i1] = np.where(near, half * (eps4 * (s12 - s6) - eshift), zero).sum(axis=1)
        g = np.where(near, eps24 * (s12 + s12 - s6) / r2, zero)
        forces[i0:i1] = (g[..., None] * d).sum(axis=1)
    return forces, epart


def lj_numpy(pos: Any, box: float, cutoff: float, epsilon: float = 1.0, sigma: float = 1.0,
             shift: bool = False) -> tuple[np.ndarray, float]:
    """The NumPy reference: (forces, energy), computed in the dtype of `pos`."""
    pos = check_positions(pos, box, cutoff)
    forces, epart = _numpy(pos, lj_scalars(pos.dtype, box, cutoff, epsilon, sigma, shift))
    return forces, float(epart.sum(dtype=np.float64))


def lj_forces(pos: Any, box: float, cutoff: float, epsilon: float = 1.0, sigma: float = 1.0,
              shift: bool = False, backend: str = "auto", device: Any = None) -> LJResult:
    """Lennard-Jones forces and energy of N particles at `pos` (N, 3) in a periodic cube of
    side `box`, on `backend` ("auto": SYCL, else numba, else NumPy)."""
    pos = check_positions(pos, box, cutoff)
    chosen = resolve_backend(backend, device, fp64=pos.dtype == np.float64, kernel="lj",
                             dtype=pos.dtype)
    forces, epart = compute(chosen, pos, lj_scalars(pos.dtype, box, cutoff, epsilon, sigma,
                                                    shift))
    return LJResult(forces, float(epart.sum(dtype=np.float64)), chosen)


def compute(chosen: Backend, pos: np.ndarray, scalars: tuple
            ) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) on a backend already chosen: what `lj_forces` and
    the backend self-check (kernels.selfcheck) both run."""
    if chosen.name == "sycl":
        from orchestrator.library.kernels import sycl_dpex

        return sycl_dpex.lj_forces(pos, scalars, chosen.queue)
    if chosen.name == "numba":
        from orchestrator.library.kernels import cpu_numba

        forces = np.zeros((pos.shape[0], 3), dtype=pos.dtype)
        epart = np.zeros(pos.shape[0], dtype=pos.dtype)
        cpu_numba.lj_forces(pos, *scalars, forces, epart)
        return forces, epart
    return _numpy(pos, scalars)
