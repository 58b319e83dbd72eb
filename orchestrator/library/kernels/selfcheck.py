"""The backend self-check: a kernel is trusted on a device only after it reproduced the
NumPy reference there, once per process, backend, device, kernel and dtype.

Why: a device (or the toolchain that compiles for it) can be wrong without failing.
Issue 13: on AMD EPYC CPUs without AVX-512 the table kernel's float32 forces came back
wrong (relative error 1.0) while every call succeeded. So before the first real call of
a kernel on the sycl or numba backend, `verify` runs that kernel, with the same argument
types, on a tiny case (10 particles, a 7 x 6 grid) and compares it with the NumPy
reference in the same dtype. A disagreement refuses the backend: `resolve_backend`
falls back (auto) or raises `BackendUnavailable` (an explicit backend). After the JIT a
check costs about a millisecond; results are kept for the life of the process and listed
by `orch devices` (`device_checks`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from orchestrator.library.kernels.backend import Backend, BackendUnavailable, KernelRefused

KERNELS = ("jacobi", "lj", "pair_table")
TOLERANCE = {"float32": 5e-5, "float64": 1e-9}


@dataclass(frozen=True)
class Check:
    backend: str  # "sycl" or "numba"
    device: str | None  # filter string (sycl)
    device_name: str  # "AMD EPYC 9454P", "CPU"
    kernel: str
    dtype: str
    ok: bool
    max_rel_err: float | None  # None when the kernel raised
    tolerance: float
    error: str | None  # what went wrong, None when ok
    seconds: float  # the check's wall time (the first one includes the JIT)

    @property
    def where(self) -> str:
        if self.backend == "sycl":
            return f"{self.device} ({self.device_name})"
        return f"numba ({self.device_name})"

    def refusal(self) -> str:
        what = "device" if self.backend == "sycl" else "backend"
        return f"{self.where}: kernel {self.kernel} {self.dtype} {self.error}; refusing the {what}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_results: dict[tuple, Check] = {}
_lock = threading.Lock()


def verify(chosen: Backend, kernel: str, dtype: Any) -> Check:
    """The cached check of `kernel` in `dtype` on `chosen`; raises KernelRefused when it
    failed."""
    result = check(chosen, kernel, dtype)
    if not result.ok:
        raise KernelRefused(result.refusal())
    return result


def check(chosen: Backend, kernel: str, dtype: Any) -> Check:
    """Run the check once per process (later calls return the first result)."""
    key = (chosen.name, chosen.device, kernel, np.dtype(dtype).name)
    with _lock:
        if key not in _results:
            _results[key] = run(chosen, kernel, np.dtype(dtype))
        return _results[key]


def results() -> list[Check]:
    """Every check this process ran, in order."""
    with _lock:
        return list(_results.values())


def clear() -> None:
    """Forget the checks (tests; a process that replaced a kernel)."""
    with _lock:
        _results.clear()


def run(chosen: Backend, kernel: str, dtype: np.dtype) -> Check:
    """Run one check now, uncached."""
    tol = TOLERANCE[dtype.name]
    start = time.perf_counter()
    try:
        got, ref = CASES[kernel](chosen, dtype)
        err: float | None = _rel_err(got, ref)
        ok = err <= tol  # False for NaN
        error = None if ok else (f"disagrees with the NumPy reference (max relative error "
                                 f"{err:.3} > {tol:g})")
    except Exception as exc:  # a kernel that cannot run here is refused too
        err, ok = None, False
        error = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
    return Check(chosen.name, chosen.device, _device_name(chosen), kernel, dtype.name, ok,
                 err, tol, error, time.perf_counter() - start)


def _device_name(chosen: Backend) -> str:
    if chosen.queue is not None:
        return str(chosen.queue.sycl_device.name)
    return "CPU"


def _rel_err(got: tuple, ref: tuple) -> float:
    """The largest, over the parts (forces, energies), of the largest difference relative
    to the largest reference value; NaN when any value is NaN."""
    worst = 0.0
    for g, r in zip(got, ref, strict=True):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        if g.shape != r.shape:
            return math.inf
        diff = np.abs(g - r)
        if np.isnan(diff).any():
            return math.nan
        worst = max(worst, float(diff.max()) / (float(np.abs(r).max()) or 1.0))
    return worst


# ---------------------------------------------------------------- the tiny cases

BOX, CUTOFF, N = 3.0, 1.4, 10
SEED = 74  # every pair distance and axis separation >= 1.5% from the cutoff and box/2


def positions(dtype: np.dtype) -> np.ndarray:
    """10 particles in a periodic box of 3: 20 pairs within the cutoff, 27 across the
    boundary, no pair near the cutoff (float32 rounding cannot flip one)."""
    return np.random.default_rng(SEED).uniform(0, BOX, (N, 3)).astype(dtype)


def _jacobi(chosen: Backend, dtype: np.dtype) -> tuple[tuple, tuple]:
    from orchestrator.library.kernels import jacobi

    rng = np.random.default_rng(1)
    u, f = (rng.standard_normal((7, 6)).astype(dtype) for _ in range(2))
    h2, quarter = jacobi.scalars(dtype, 0.1)
    got = jacobi.make_impl(chosen, u, f, h2, quarter)
    got.sweep(3)
    return (got.array(),), (jacobi.jacobi_numpy(u, f, 0.1, 3),)


def _lj(chosen: Backend, dtype: np.dtype) -> tuple[tuple, tuple]:
    from orchestrator.library.kernels import lj

    pos = positions(dtype)
    scalars = lj.lj_scalars(dtype, BOX, CUTOFF, 1.0, 0.8, True)
    return lj.compute(chosen, pos, scalars), lj.compute(Backend("numpy"), pos, scalars)


def _pair_table(chosen: Backend, dtype: np.dtype) -> tuple[tuple, tuple]:
    from orchestrator.library.kernels import pair_table as pt

    r = np.linspace(0.5, CUTOFF, 64)
    table = pt.PairTable(0.5, float(r[1] - r[0]), np.cos(3 * r) / r, np.sin(2 * r) + 1.5)
    pos = positions(dtype)
    args = (pos, pt._scalars(dtype, BOX, CUTOFF, table), *pt._tables(table, dtype))
    return pt.compute(chosen, *args), pt.compute(Backend("numpy"), *args)


CASES: dict[str, Callable[[Backend, np.dtype], tuple[tuple, tuple]]] = {
    "jacobi": _jacobi, "lj": _lj, "pair_table": _pair_table}


# ---------------------------------------------------------------- orch devices


def device_checks() -> dict[str, Any]:
    """Every kernel's check, in float32 and float64, on every SYCL device this process
    sees and on numba: the `checks` section of `orch devices --format json`."""
    from orchestrator.library.devices import discover_sycl
    from orchestrator.library.kernels.backend import resolve_backend

    out: list[dict[str, Any]] = []
    devices, reason = discover_sycl()
    targets = [("sycl", d.filter_string, d.fp64) for d in devices]
    targets.append(("numba", None, True))
    for name, device, fp64 in targets:
        try:
            chosen = resolve_backend(name, device)
        except BackendUnavailable as exc:
            where = f"{name} {device}" if device else name
            reason = "; ".join(filter(None, [reason, f"{where}: {exc}"]))
            continue
        for kernel in KERNELS:
            for dtype in ("float32", "float64"):
                if dtype == "float64" and not fp64:
                    out.append(_skipped(chosen, kernel, dtype, "no float64 support"))
                else:
                    out.append(check(chosen, kernel, dtype).to_json())
    return {"results": out, "reason": reason}


def _skipped(chosen: Backend, kernel: str, dtype: str, why: str) -> dict[str, Any]:
    return {"backend": chosen.name, "device": chosen.device,
            "device_name": _device_name(chosen), "kernel": kernel, "dtype": dtype,
            "ok": None, "max_rel_err": None, "tolerance": TOLERANCE[dtype], "error": why,
            "seconds": 0.0}


def render(checks: dict[str, Any]) -> list[str]:
    """One line per backend and device: how many kernel checks passed, then each one that
    failed or was skipped, with why."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in checks["results"]:
        where = f"{c['device']} ({c['device_name']})" if c["device"] else "numba (CPU)"
        groups.setdefault(where, []).append(c)
    lines = []
    for where, items in groups.items():
        ok = sum(1 for c in items if c["ok"])
        line = f"CHECK {where}  {ok} of {len(items)} kernel checks ok"
        for c in items:
            if not c["ok"]:
                state = "FAILED" if c["ok"] is False else "skipped"
                line += f"; {c['kernel']} {c['dtype']} {state}: {c['error']}"
        lines.append(line)
    if checks.get("reason"):
        lines.append(f"CHECK not run: {checks['reason']}")
    return lines
