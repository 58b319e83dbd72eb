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

from typing import Any

import numpy as np

from orchestrator.library.kernels import pairs
from orchestrator.library.kernels.backend import Backend, resolve_backend
from orchestrator.library.kernels.pairs import PairResult

DTYPES = (np.float32, np.float64)


LJResult = PairResult  # one result type for every pair potential


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

    def term(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inv_r2 = sig2 / r2
        s6 = inv_r2 * inv_r2 * inv_r2
        s12 = s6 * s6
        return eps4 * (s12 - s6) - eshift, eps24 * (s12 + s12 - s6) / r2

    return pairs.numpy_pairs(pos, box, inv_box, rc2, half, term)


def lj_numpy(pos: Any, box: float, cutoff: float, epsilon: float = 1.0, sigma: float = 1.0,
             shift: bool = False) -> tuple[np.ndarray, float]:
    """The NumPy reference: (forces, energy), computed in the dtype of `pos`."""
    pos = check_positions(pos, box, cutoff)
    forces, epart = _numpy(pos, lj_scalars(pos.dtype, box, cutoff, epsilon, sigma, shift))
    return forces, pairs.total(epart)


def lj_forces(pos: Any, box: float, cutoff: float, epsilon: float = 1.0, sigma: float = 1.0,
              shift: bool = False, backend: str = "auto", device: Any = None) -> PairResult:
    """Lennard-Jones forces and energy of N particles at `pos` (N, 3) in a periodic cube of
    side `box`, on `backend` ("auto": SYCL, else numba, else NumPy)."""
    pos = check_positions(pos, box, cutoff)
    chosen = resolve_backend(backend, device, fp64=pos.dtype == np.float64, kernel="lj",
                             dtype=pos.dtype)
    forces, epart = compute(chosen, pos, lj_scalars(pos.dtype, box, cutoff, epsilon, sigma,
                                                    shift))
    return PairResult(forces, pairs.total(epart), chosen)


def compute(chosen: Backend, pos: np.ndarray, scalars: tuple
            ) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) on a backend already chosen: what `lj_forces` and
    the backend self-check (kernels.selfcheck) both run."""
    return pairs.compute(chosen, "lj", _numpy, pos, scalars)
