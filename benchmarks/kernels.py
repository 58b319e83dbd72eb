"""Jacobi stencil throughput on NumPy, numba and SYCL, each against a copy kernel of the
same toolchain, plus the SYCL kernel launch overhead after JIT.

One Jacobi sweep of an N x N float64 grid updates (N-2)^2 points, reading u and f and
writing the new iterate: at least 24 bytes per lattice update. The copy kernel of each
toolchain does `out = u + f` on the same interior points (the same 24 bytes per point,
no stencil): its rate is the memory-bandwidth limit, and stencil rate / copy rate says
how close the stencil gets to it (issue 5 targets at least 0.8 for SYCL and numba).
Blocks of SWEEPS sweeps alternate between all six kernels, REPEATS times; the median
block gives the rate. Launch overhead: median time of an empty SYCL kernel, submission to
completion, after its JIT. Prints one JSON line.

    python benchmarks/kernels.py [--n 4000] [--sweeps 5] [--repeats 7] [--dtype float64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from orchestrator.library import devices, sycl_env

TARGET = 0.8


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="grid side (N x N)")
    ap.add_argument("--sweeps", type=int, default=5, help="sweeps per timed block")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--launches", type=int, default=500, help="empty kernels timed")
    return ap.parse_args()


def numpy_kernels(u, f, h2, quarter) -> dict[str, Callable[[], None]]:
    from orchestrator.library.kernels.jacobi import _NumpyJacobi

    run = _NumpyJacobi(u, f, h2, quarter)
    out = np.empty_like(u)
    a, b, o = u[1:-1, 1:-1], f[1:-1, 1:-1], out[1:-1, 1:-1]
    return {"stencil": lambda: run.sweep(1), "copy": lambda: np.add(a, b, out=o)}


def numba_kernels(u, f, h2, quarter) -> dict[str, Callable[[], None]]:
    from orchestrator.library.kernels import cpu_numba

    a, b, out = u.copy(), u.copy(), np.empty_like(u)
    return {"stencil": lambda: cpu_numba.jacobi_sweep(a, f, b, h2, quarter),
            "copy": lambda: cpu_numba.add_copy(a, f, out)}


def sycl_kernels(u, f, h2, quarter, queue) -> dict[str, Callable[[], None]]:
    from orchestrator.library.kernels import sycl_dpex

    run = sycl_dpex.SyclJacobi(u, f, h2, quarter, queue)
    return {"stencil": lambda: run.sweep(1), "copy": sycl_dpex.add_copy_runner(u, f, queue)}


def first_call(fn: Callable[[], None]) -> float:
    """Seconds of the first call (JIT compilation or cache load, plus one run)."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(kernels: dict[str, dict[str, Callable[[], None]]], sweeps: int,
            repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds per call of every kernel, blocks interleaved across kernels."""
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        order = [(t, k) for t in kernels for k in kernels[t]]
        for tool, kind in (order if r % 2 == 0 else order[::-1]):
            fn = kernels[tool][kind]
            t = time.perf_counter()
            for _ in range(sweeps):
                fn()
            times.setdefault((tool, kind), []).append((time.perf_counter() - t) / sweeps)
    out: dict[str, dict[str, float]] = {}
    for (tool, kind), ts in times.items():
        out.setdefault(tool, {})[kind] = statistics.median(ts)
    return out


def main() -> int:
    sycl_env.ensure_sycl_env()  # re-execs with the oneAPI environment when it is missing
    args = parse()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    u = rng.random((args.n, args.n)).astype(dtype)
    f = rng.random((args.n, args.n)).astype(dtype)
    h2, quarter = dtype.type((1.0 / (args.n - 1)) ** 2), dtype.type(0.25)
    points = (args.n - 2) ** 2
    bytes_per_point = 3 * dtype.itemsize
    from orchestrator.library.kernels import BackendUnavailable, resolve_backend

    kernels = {"numpy": numpy_kernels(u, f, h2, quarter)}
    result: dict = {"benchmark": "kernels", "grid": [args.n, args.n], "dtype": args.dtype,
                    "sweeps_per_block": args.sweeps, "repeats": args.repeats,
                    "cpu": devices.cpu_info().to_json(), "first_call_s": {}}
    try:
        kernels["numba"] = numba_kernels(u, f, h2, quarter)
    except ImportError as exc:
        result["numba_missing"] = str(exc)
    try:
        backend = resolve_backend("sycl", fp64=dtype == np.float64)
        kernels["sycl"] = sycl_kernels(u, f, h2, quarter, backend.queue)
        result["sycl_device"] = backend.device
    except BackendUnavailable as exc:
        result["sycl_missing"] = str(exc)
    for tool, ks in kernels.items():
        result["first_call_s"][tool] = {k: round(first_call(fn), 4) for k, fn in ks.items()}
    medians = measure(kernels, args.sweeps, args.repeats)
    for tool, m in medians.items():
        lups, copy = points / m["stencil"], points / m["copy"]
        result[tool] = {"lups": round(lups), "copy_lups": round(copy),
                        "copy_GBps": round(copy * bytes_per_point / 1e9, 2),
                        "ratio_to_copy": round(lups / copy, 3)}
    if "sycl" in kernels:
        from orchestrator.library.kernels import sycl_dpex

        launches = sycl_dpex.launch_overhead(backend.queue, args.launches)
        result["sycl_launch_overhead_us"] = round(statistics.median(launches) * 1e6, 1)
    result["target_ratio_to_copy"] = TARGET
    result["target_met"] = {t: result[t]["ratio_to_copy"] >= TARGET
                            for t in ("sycl", "numba") if t in result}
    result["threads"] = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS",
                                                        "CL_CONFIG_CPU_TBB_NUM_WORKERS")}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
