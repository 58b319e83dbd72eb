"""Checks that run inside the SYCL child process (see conftest.py): each builds its inputs
from a seed, runs a kernel on one backend, compares it with the NumPy reference and
returns plain JSON data for the test to assert on."""

from __future__ import annotations

from typing import Any

import numpy as np


def _rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest elementwise difference relative to the largest reference value."""
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max()) if ref.size else 0
    return diff / scale if scale else diff


def jacobi(dtype: str, shape: list[int], sweeps: int, backend: str, seed: int = 0
           ) -> dict[str, Any]:
    from orchestrator.library.kernels import jacobi_numpy, jacobi_sweeps

    rng = np.random.default_rng(seed)
    u = rng.standard_normal(shape).astype(dtype)
    f = rng.standard_normal(shape).astype(dtype)
    h = 1.0 / (shape[0] + 1)
    ref = jacobi_numpy(u, f, h, sweeps)
    before = u.copy()
    res = jacobi_sweeps(u, f, h, sweeps, backend=backend)
    boundary_kept = bool(np.array_equal(res.u[0], u[0]) and np.array_equal(res.u[-1], u[-1])
                         and np.array_equal(res.u[:, 0], u[:, 0])
                         and np.array_equal(res.u[:, -1], u[:, -1]))
    return {"backend": res.backend.to_json(), "dtype": str(res.u.dtype),
            "shape": list(res.u.shape), "rel_err": _rel_err(res.u, ref),
            "input_unchanged": bool(np.array_equal(u, before)), "boundary_kept": boundary_kept}


def jacobi_halo(dtype: str, shape: list[int], sweeps: int, backend: str) -> dict[str, Any]:
    """Two halves of a grid, each on its own `Jacobi`, exchanging one halo row per sweep
    through get_rows/set_rows (what an MPI solver does), against one whole-grid run."""
    from orchestrator.library.kernels import Jacobi, jacobi_numpy

    rng = np.random.default_rng(1)
    u = rng.standard_normal(shape).astype(dtype)
    f = rng.standard_normal(shape).astype(dtype)
    h = 0.01
    mid = shape[0] // 2
    top = Jacobi(u[:mid + 1], f[:mid + 1], h, backend)  # owns rows 1..mid-1 plus halo mid
    bot = Jacobi(u[mid - 1:], f[mid - 1:], h, backend)  # halo mid-1, owns mid..
    for _ in range(sweeps):
        top.sweep()
        bot.sweep()
        top.set_rows(mid, bot.get_rows(1, 2))
        bot.set_rows(0, top.get_rows(mid - 1, mid))
    got = np.vstack([top.array()[:mid], bot.array()[1:]])
    ref = jacobi_numpy(u, f, h, sweeps)
    return {"backend": top.backend.to_json(), "rel_err": _rel_err(got, ref)}


def lattice(n_side: int, box: float, jitter: float, dtype: str, seed: int = 0) -> np.ndarray:
    """A simple cubic lattice of n_side^3 particles, each moved by up to `jitter`."""
    rng = np.random.default_rng(seed)
    g = (np.arange(n_side) + 0.5) * box / n_side
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    return (p + rng.uniform(-jitter, jitter, p.shape)).astype(dtype)


def lj(dtype: str, n: int, backend: str, shift: bool = False) -> dict[str, Any]:
    """Forces and energy of the first n particles of a jittered liquid-density lattice
    against the float64 NumPy reference of the same positions."""
    from orchestrator.library.kernels import lj_forces, lj_numpy

    side = max(2, round(n ** (1 / 3)) + 1)
    box = side / 0.8 ** (1 / 3)  # reduced density 0.8
    pos = lattice(side, box, 0.1, dtype)[:n]
    cutoff = min(2.5, box / 2)
    ref_f, ref_e = lj_numpy(pos.astype(np.float64), box, cutoff, 1.2, 0.9, shift)
    res = lj_forces(pos, box, cutoff, 1.2, 0.9, shift, backend=backend)
    return {"backend": res.backend.to_json(), "dtype": str(res.forces.dtype),
            "shape": list(res.forces.shape), "force_rel_err": _rel_err(res.forces, ref_f),
            "energy_rel_err": abs(res.energy - ref_e) / max(abs(ref_e), 1e-300),
            "energy": res.energy, "ref_energy": ref_e}


def lj_table(cutoff: float, points: int = 4001):
    """The shifted LJ potential (epsilon 1.2, sigma 0.9) tabulated from r = 0.5."""
    from orchestrator.library.kernels import PairTable

    r = np.linspace(0.5, cutoff, points)
    s6 = (0.9 / r) ** 6
    sc6 = (0.9 / cutoff) ** 6
    energy = 4 * 1.2 * (s6 * s6 - s6) - 4 * 1.2 * (sc6 * sc6 - sc6)
    force = 24 * 1.2 * (2 * s6 * s6 - s6) / r ** 2
    return PairTable(0.5, float(r[1] - r[0]), energy, force)


def pair_table(dtype: str, n: int, backend: str) -> dict[str, Any]:
    """A tabulated LJ potential on `backend` against the float64 NumPy table reference, and
    the table reference against the analytic LJ kernel (interpolation error)."""
    from orchestrator.library.kernels import lj_numpy, table_forces, table_numpy

    side = max(2, round(n ** (1 / 3)) + 1)
    box = side / 0.8 ** (1 / 3)
    pos = lattice(side, box, 0.1, dtype)[:n]
    cutoff = min(2.5, box / 2)
    table = lj_table(cutoff)
    ref_f, ref_e = table_numpy(pos.astype(np.float64), box, cutoff, table)
    res = table_forces(pos, box, cutoff, table, backend=backend)
    lj_f, lj_e = lj_numpy(pos.astype(np.float64), box, cutoff, 1.2, 0.9, True)
    return {"backend": res.backend.to_json(), "dtype": str(res.forces.dtype),
            "shape": list(res.forces.shape), "force_rel_err": _rel_err(res.forces, ref_f),
            "energy_rel_err": abs(res.energy - ref_e) / max(abs(ref_e), 1e-300),
            "energy": res.energy, "interp_force_rel_err": _rel_err(ref_f, lj_f),
            "interp_energy_rel_err": abs(ref_e - lj_e) / max(abs(lj_e), 1e-300)}


def devices() -> dict[str, Any]:
    from orchestrator.library.devices import discover
    from orchestrator.library.sycl_choice import select_device

    dev, note = select_device("xpu")
    return {"inventory": discover().to_json(), "selected": dev.filter_string if dev else None,
            "note": note}


def auto_backend() -> dict[str, Any]:
    from orchestrator.library.kernels import resolve_backend

    return resolve_backend("auto").to_json()


def launch_overhead() -> dict[str, Any]:
    from orchestrator.library.kernels import resolve_backend, sycl_dpex

    queue = resolve_backend("sycl").queue
    times = sorted(sycl_dpex.launch_overhead(queue, 50))
    return {"median_s": times[len(times) // 2]}


# ---------------------------------------------------------------- the backend self-check


def _table_case(n: int, dtype: str):
    side = max(2, round(n ** (1 / 3)) + 1)
    box = side / 0.8 ** (1 / 3)
    cutoff = min(2.5, box / 2)
    return lattice(side, box, 0.1, dtype)[:n], box, cutoff, lj_table(cutoff)


def selfcheck_on_the_device() -> dict[str, Any]:
    """The table kernel on sycl and numba in both dtypes from a clean check cache: the
    checks that ran, and what one check costs once its kernel is compiled."""
    import time

    from orchestrator.library.kernels import resolve_backend, selfcheck, table_forces

    selfcheck.clear()
    used = []
    for backend in ("sycl", "numba"):
        for dtype in ("float32", "float64"):
            pos, box, cutoff, table = _table_case(20, dtype)
            used.append(table_forces(pos, box, cutoff, table, backend=backend).backend.name)
    chosen = resolve_backend("sycl")
    costs = {}
    for dtype in ("float32", "float64"):
        times = []
        for _ in range(21):
            start = time.perf_counter()
            assert selfcheck.run(chosen, "pair_table", np.dtype(dtype)).ok
            times.append(time.perf_counter() - start)
        costs[dtype] = sorted(times)[len(times) // 2]
    return {"used": used, "checks": [c.to_json() for c in selfcheck.results()],
            "median_cost_s": costs}


def wrong_table_kernel(backend: str) -> dict[str, Any]:
    """The SYCL table kernel made to return forces 1.5 times too large (as a broken device
    would), then table_forces in float32 on `backend`, twice: the refusal, or which
    backend ran, its note, the warnings, and how often the wrong kernel was called."""
    import warnings

    from orchestrator.library.kernels import (
        BackendUnavailable,
        selfcheck,
        sycl_dpex,
        table_forces,
        table_numpy,
    )

    real, calls = sycl_dpex.table_forces, []

    def wrong(*args, **kwargs):
        calls.append(1)
        forces, epart = real(*args, **kwargs)
        return forces * 1.5, epart

    pos, box, cutoff, table = _table_case(97, "float32")
    out: dict[str, Any] = {"errors": [], "backends": []}
    selfcheck.clear()
    sycl_dpex.table_forces = wrong
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                try:
                    res = table_forces(pos, box, cutoff, table, backend=backend)
                except BackendUnavailable as exc:
                    out["errors"].append({"type": type(exc).__name__, "message": str(exc)})
                    continue
                out["backends"].append(res.backend.to_json())
                out["force_rel_err"] = _rel_err(res.forces, table_numpy(pos, box, cutoff,
                                                                        table)[0])
        out["warnings"] = [str(w.message) for w in caught if w.category is RuntimeWarning]
    finally:
        sycl_dpex.table_forces = real
        selfcheck.clear()
    out["wrong_kernel_calls"] = len(calls)
    return out


def raw_table(n: int, dtype: str) -> dict[str, Any]:
    """The SYCL table kernel called directly (no self-check) against the float64 NumPy
    reference, then through table_forces(backend="sycl"): its error, and the refusal if
    the self-check refused the device."""
    from orchestrator.library.kernels import BackendUnavailable, resolve_backend, table_forces
    from orchestrator.library.kernels import pair_table as pt

    pos, box, cutoff, table = _table_case(n, dtype)
    args = (pos, pt._scalars(pos.dtype, box, cutoff, table), *pt._tables(table, pos.dtype))
    forces, epart = pt.compute(resolve_backend("sycl"), *args)
    ref_f, ref_e = pt.table_numpy(pos.astype(np.float64), box, cutoff, table)
    refused = None
    try:
        table_forces(pos, box, cutoff, table, backend="sycl")
    except BackendUnavailable as exc:
        refused = str(exc)
    return {"force_rel_err": _rel_err(forces, ref_f), "energy": float(epart.sum()),
            "ref_energy": ref_e, "refused": refused}


def on_generic_host(name: str, fix: bool = True, **kwargs) -> dict[str, Any]:
    """checks.`name` in a new process whose numba compiles host code for plain x86-64 (no
    AVX-512, like the AMD EPYC of issue 13: numba-dpex's kernel launchers are host code),
    with or without the launcher fix (orchestrator.library.kernels.dpex_launch)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "NUMBA_CPU_NAME": "x86-64", "NUMBA_CPU_FEATURES": "",
           "ORCH_DPEX_LAUNCHER_FIX": "1" if fix else "0"}
    code = f"import json, checks; print(json.dumps(checks.{name}(**{kwargs!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=str(Path(__file__).parent), timeout=240, check=False)
    if proc.returncode:
        raise RuntimeError(f"{name} on a generic x86-64 host failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def launcher_versions() -> dict[str, str]:
    import llvmlite
    import numba_dpex

    return {"numba_dpex": numba_dpex.__version__, "llvmlite": llvmlite.__version__}


def launcher_zero_size_arrays() -> dict[str, Any]:
    """How many zero-size stack arrays (`alloca [0 x ...]`) the kernel launchers compiled
    in this process have, after one table kernel call (issue 13's write target)."""
    from orchestrator.library.kernels import table_forces
    from orchestrator.library.kernels.backend import import_numba_dpex

    pos, box, cutoff, table = _table_case(5, "float32")
    table_forces(pos, box, cutoff, table, backend="sycl")
    launchers = import_numba_dpex().call_kernel.inspect_llvm()
    return {"launchers": len(launchers),
            "zero_size": sum(ir.count("alloca [0 x") for ir in launchers.values())}
