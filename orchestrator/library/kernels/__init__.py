"""Compute kernels with a SYCL (numba-dpex) version, a numba CPU version and a NumPy
reference; `backend="auto"` runs the first available of SYCL, numba, NumPy and every
result says which one ran (`result.backend`).

- `jacobi_sweeps` / `Jacobi`: the 2-D 5-point Jacobi / heat stencil (float32, float64).
- `lj_forces`: Lennard-Jones pair forces and energy in a periodic cube.
- `table_forces`: the same for a tabulated pair potential (`PairTable`), e.g. a learned one.

Importing this package imports NumPy only: numba, dpctl and numba-dpex are loaded when a
backend needs them. The SYCL backend needs the oneAPI environment
(orchestrator.library.sycl_env; `orch` and Parsl workers set it up).
"""

from orchestrator.library.kernels.backend import (
    BACKENDS,
    Backend,
    BackendUnavailable,
    KernelRefused,
    resolve_backend,
)
from orchestrator.library.kernels.jacobi import Jacobi, JacobiResult, jacobi_numpy, jacobi_sweeps
from orchestrator.library.kernels.lj import LJResult, lj_forces, lj_numpy
from orchestrator.library.kernels.pair_table import (
    PairResult,
    PairTable,
    table_forces,
    table_numpy,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "Jacobi",
    "JacobiResult",
    "KernelRefused",
    "LJResult",
    "PairResult",
    "PairTable",
    "jacobi_numpy",
    "jacobi_sweeps",
    "lj_forces",
    "lj_numpy",
    "resolve_backend",
    "table_forces",
    "table_numpy",
]
