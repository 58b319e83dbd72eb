"""What every pair potential shares: the result type, the blocked NumPy pair loop and the
dispatch to a backend's pair loop (kernels.pair_loop, compiled by cpu_numba and
sycl_dpex).

A potential (kernels.lj, kernels.pair_table) only supplies its pair term and scalars, so
the minimum image, cutoff, self-exclusion and energy halving are written once per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orchestrator.library.kernels.backend import Backend

_BLOCK_PAIRS = 1 << 21  # pairs per NumPy block: bounds the reference's memory


@dataclass(frozen=True)
class PairResult:
    """Forces (N, 3) in the dtype of the positions, the total energy (summed in float64
    from per-particle halves) and the backend that computed them."""

    forces: np.ndarray
    energy: float
    backend: Backend


def total(epart: np.ndarray) -> float:
    """The total energy from per-particle halves, summed in float64 on every backend."""
    return float(epart.sum(dtype=np.float64))


def numpy_pairs(pos: np.ndarray, box, inv_box, rc2, half, term: Callable
                ) -> tuple[np.ndarray, np.ndarray]:
    """The NumPy reference loop in blocks of rows: `term(r2)` gets the squared distances
    (1 where a pair is out of range or a self-pair, so it stays finite) and returns the
    pair energies and force factors; (forces, per-particle energies)."""
    n = pos.shape[0]
    forces = np.zeros((n, 3), dtype=pos.dtype)
    epart = np.zeros(n, dtype=pos.dtype)
    step = max(1, _BLOCK_PAIRS // max(n, 1))
    zero = pos.dtype.type(0)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        d = pos[i0:i1, None, :] - pos[None, :, :]
        d -= box * np.floor(d * inv_box + half)
        r2 = d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]
        near = r2 < rc2
        near[np.arange(i1 - i0), np.arange(i0, i1)] = False  # no self-interaction
        u, g = term(np.where(near, r2, pos.dtype.type(1)))
        epart[i0:i1] = np.where(near, half * u, zero).sum(axis=1)
        forces[i0:i1] = (np.where(near, g, zero)[..., None] * d).sum(axis=1)
    return forces, epart


def compute(chosen: Backend, kernel: str, reference: Callable, pos: np.ndarray,
            scalars: tuple, *tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) of pair potential `kernel` ("lj", "table") on a
    backend already chosen: `<kernel>_forces` of sycl_dpex or cpu_numba (looked up at
    call time, so tests can wrap them), else `reference(pos, scalars, *tables)`."""
    if chosen.name == "sycl":
        from orchestrator.library.kernels import sycl_dpex

        return getattr(sycl_dpex, f"{kernel}_forces")(pos, scalars, *tables, chosen.queue)
    if chosen.name == "numba":
        from orchestrator.library.kernels import cpu_numba

        forces = np.zeros((pos.shape[0], 3), dtype=pos.dtype)
        epart = np.zeros(pos.shape[0], dtype=pos.dtype)
        getattr(cpu_numba, f"{kernel}_forces")(pos, *scalars, *tables, forces, epart)
        return forces, epart
    return reference(pos, scalars, *tables)

