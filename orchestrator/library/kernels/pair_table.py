"""Forces and energy of a tabulated pair potential in a cubic periodic box.

A pair potential phi(r) given on an even grid r_k = r0 + k dr (k = 0..K-1, r_{K-1} <= rc)
as two tables, energy e_k = phi(r_k) and force factor g_k = -phi'(r_k) / r_k, linearly
interpolated (LAMMPS' `pair_style table linear` does the same). For every pair closer
than the cutoff (minimum image, rc <= box/2):

    E   = sum_{i<j} e(r_ij)           F_i = sum_j g(r_ij) (x_i - x_j)

Below r0 the first table entry is used (a model's table should start below any
distance its MD reaches). This is how a learned pair potential (the active-learning
workflow's neural network, evaluated once on the grid) drives molecular dynamics on
any backend: the network is trained in PyTorch, the MD steps run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.library.kernels import pairs
from orchestrator.library.kernels.backend import Backend, resolve_backend
from orchestrator.library.kernels.lj import check_positions
from orchestrator.library.kernels.pairs import PairResult


@dataclass(frozen=True)
class PairTable:
    """An even grid r0 + k*dr (k < len(energy)) with energy and force-factor tables."""

    r0: float
    dr: float
    energy: np.ndarray   # phi(r_k)
    force: np.ndarray    # -phi'(r_k) / r_k

    def __post_init__(self) -> None:
        if self.energy.shape != self.force.shape or self.energy.ndim != 1:
            raise ValueError("energy and force tables must be 1-D and of one length")
        if len(self.energy) < 2 or not (self.dr > 0 and self.r0 >= 0):
            raise ValueError("a table needs at least 2 points, dr > 0 and r0 >= 0")

    @property
    def r_max(self) -> float:
        return self.r0 + self.dr * (len(self.energy) - 1)

    def grid(self) -> np.ndarray:
        return self.r0 + self.dr * np.arange(len(self.energy))


def _scalars(dtype: np.dtype, box: float, cutoff: float, table: PairTable) -> tuple:
    """(box, 1/box, rc^2, r0, 1/dr, last index - 1, 0.5) in `dtype`: every backend's
    argument order."""
    values = (box, 1.0 / box, cutoff * cutoff, table.r0, 1.0 / table.dr,
              len(table.energy) - 2, 0.5)
    return tuple(dtype.type(v) for v in values)


def _check(pos: Any, box: float, cutoff: float, table: PairTable) -> np.ndarray:
    pos = check_positions(pos, box, cutoff)
    if table.r_max < cutoff - 1e-9 * cutoff:
        raise ValueError(f"the table ends at r = {table.r_max:.6g} before the cutoff {cutoff}")
    return pos


def _numpy(pos: np.ndarray, scalars: tuple, etab: np.ndarray, ftab: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    box, inv_box, rc2, r0, inv_dr, kmax, half = scalars
    zero = pos.dtype.type(0)

    def term(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.maximum((np.sqrt(r2) - r0) * inv_dr, zero)
        k = np.minimum(np.floor(t), kmax)
        w = t - k
        k = k.astype(np.int64)
        return (1 - w) * etab[k] + w * etab[k + 1], (1 - w) * ftab[k] + w * ftab[k + 1]

    return pairs.numpy_pairs(pos, box, inv_box, rc2, half, term)


def _tables(table: PairTable, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(table.energy, dtype=dtype),
            np.ascontiguousarray(table.force, dtype=dtype))


def table_numpy(pos: Any, box: float, cutoff: float, table: PairTable
                ) -> tuple[np.ndarray, float]:
    """The NumPy reference: (forces, energy) in the dtype of `pos`."""
    pos = _check(pos, box, cutoff, table)
    forces, epart = _numpy(pos, _scalars(pos.dtype, box, cutoff, table),
                           *_tables(table, pos.dtype))
    return forces, pairs.total(epart)


def table_forces(pos: Any, box: float, cutoff: float, table: PairTable,
                 backend: str = "auto", device: Any = None) -> PairResult:
    """Forces and energy of N particles at `pos` (N, 3) under the tabulated pair potential,
    on `backend` ("auto": SYCL, else numba, else NumPy)."""
    pos = _check(pos, box, cutoff, table)
    chosen = resolve_backend(backend, device, fp64=pos.dtype == np.float64,
                             kernel="pair_table", dtype=pos.dtype)
    forces, epart = compute(chosen, pos, _scalars(pos.dtype, box, cutoff, table),
                            *_tables(table, pos.dtype))
    return PairResult(forces, pairs.total(epart), chosen)


def compute(chosen: Backend, pos: np.ndarray, scalars: tuple, etab: np.ndarray,
            ftab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(forces, per-particle energies) on a backend already chosen: what `table_forces`
    and the backend self-check (kernels.selfcheck) both run."""
    return pairs.compute(chosen, "table", _numpy, pos, scalars, etab, ftab)
