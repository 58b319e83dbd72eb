"""The backend self-check's logic without a SYCL runtime: fake cases stand in for the
kernels (the real ones on the real device are in tests/xpu/test_selfcheck.py)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from orchestrator.library import devices
from orchestrator.library.kernels import KernelRefused, selfcheck
from orchestrator.library.kernels import backend as kbackend


@pytest.fixture(autouse=True)
def clean_cache():
    selfcheck.clear()
    yield
    selfcheck.clear()


@pytest.fixture
def no_sycl(monkeypatch):
    def unavailable(device, resources_device):
        raise kbackend.BackendUnavailable("dpctl is not installed")

    monkeypatch.setattr(kbackend, "sycl_queue", unavailable)


def fake_case(monkeypatch, kernel: str, result, calls: list | None = None):
    def case(chosen, dtype):
        if calls is not None:
            calls.append((chosen.name, dtype.name))
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setitem(selfcheck.CASES, kernel, case)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiny_case_is_far_from_every_decision(dtype):
    """No pair distance near the cutoff and no axis separation near box/2: rounding on
    a device cannot flip a pair in or out, or across the box."""
    pos = selfcheck.positions(np.dtype(dtype)).astype(np.float64)
    d = pos[:, None] - pos[None]
    off = ~np.eye(len(pos), dtype=bool)
    assert (np.abs(np.abs(d[off]) - selfcheck.BOX / 2) > 0.01 * selfcheck.BOX).all()
    crosses = (np.abs(d[off]) > selfcheck.BOX / 2).any(-1)
    d -= selfcheck.BOX * np.floor(d / selfcheck.BOX + 0.5)
    r = np.sqrt((d[off] ** 2).sum(-1))
    assert (np.abs(r - selfcheck.CUTOFF) > 0.01 * selfcheck.CUTOFF).all()
    assert (r < selfcheck.CUTOFF).sum() == 2 * 20 and crosses.sum() == 2 * 27  # (i, j), (j, i)


def test_explicit_backend_refused_with_the_reason(monkeypatch):
    fake_case(monkeypatch, "lj", ((np.ones(3) * 1.5,), (np.ones(3),)))
    with pytest.raises(KernelRefused) as exc:
        kbackend.resolve_backend("numba", kernel="lj", dtype=np.float32)
    assert str(exc.value) == ("numba (CPU): kernel lj float32 disagrees with the NumPy "
                              "reference (max relative error 0.5 > 5e-05); refusing the backend")
    assert isinstance(exc.value, kbackend.BackendUnavailable)


def test_auto_falls_back_and_says_why(monkeypatch, no_sycl):
    fake_case(monkeypatch, "lj", ((np.array([2.0, 0.0]),), (np.array([1.0, 0.0]),)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = kbackend.resolve_backend("auto", kernel="lj", dtype=np.float64)
    assert chosen.name == "numpy"
    assert chosen.note == ("auto: NumPy reference; sycl: dpctl is not installed; numba: "
                           "numba (CPU): kernel lj float64 disagrees with the NumPy reference "
                           "(max relative error 1.0 > 1e-09); refusing the backend")
    assert [str(w.message) for w in caught] == [
        "numba (CPU): kernel lj float64 disagrees with the NumPy reference (max relative "
        "error 1.0 > 1e-09); refusing the backend; running on numpy instead"]


def test_checked_once_per_backend_kernel_and_dtype(monkeypatch, no_sycl):
    calls: list = []
    fake_case(monkeypatch, "jacobi", ((np.ones(4),), (np.ones(4),)), calls)
    for _ in range(3):
        for dtype in (np.float32, np.float64):
            assert kbackend.resolve_backend("auto", kernel="jacobi", dtype=dtype).name == "numba"
    assert calls == [("numba", "float32"), ("numba", "float64")]
    assert [c.ok for c in selfcheck.results()] == [True, True]
    assert kbackend.resolve_backend("numba").name == "numba"  # no kernel: no check
    assert len(calls) == 2


@pytest.mark.parametrize("result, error", [
    (ValueError("boom"), "failed: ValueError: boom"),
    (((np.array([math.nan]),), (np.array([1.0]),)), "max relative error nan > 5e-05"),
    (((np.ones(2),), (np.ones(3),)), "max relative error inf > 5e-05"),
])
def test_crash_nan_or_wrong_shape_refuses(monkeypatch, result, error):
    fake_case(monkeypatch, "pair_table", result)
    with pytest.raises(KernelRefused, match=f"kernel pair_table float32 .*{error}"):
        kbackend.resolve_backend("numba", kernel="pair_table", dtype="float32")


def test_numpy_is_never_checked(monkeypatch):
    fake_case(monkeypatch, "lj", ValueError("must not run"))
    assert kbackend.resolve_backend("numpy", kernel="lj", dtype=np.float32).name == "numpy"
    assert selfcheck.results() == []


def test_devices_text_lists_failed_checks():
    row = {"backend": "sycl", "device": "opencl:cpu:0", "device_name": "AMD EPYC",
           "kernel": "lj", "dtype": "float32", "ok": True, "max_rel_err": 0.0,
           "tolerance": 5e-5, "error": None, "seconds": 0.5}
    bad = {**row, "kernel": "pair_table", "ok": False, "max_rel_err": 1.0,
           "error": "disagrees with the NumPy reference (max relative error 1.0 > 5e-05)"}
    skipped = {**row, "dtype": "float64", "ok": None, "error": "no float64 support"}
    data = {"cpu": {"model": "AMD EPYC", "usable_cpus": 2, "logical_cpus": 2},
            "cuda": {"devices": [], "reason": "no torch"},
            "sycl": {"devices": [], "reason": "none"}, "pinning": {},
            "checks": {"results": [row, bad, skipped], "reason": "numba: numba is not installed"}}
    lines = devices.render_text(data).splitlines()
    assert lines[-2] == ("CHECK opencl:cpu:0 (AMD EPYC)  1 of 3 kernel checks ok; "
                         "pair_table float32 FAILED: disagrees with the NumPy reference "
                         "(max relative error 1.0 > 5e-05); lj float64 skipped: no float64 "
                         "support")
    assert lines[-1] == "CHECK not run: numba: numba is not installed"


def test_importing_the_self_check_loads_no_runtime():
    code = ("import sys, orchestrator.library.kernels.selfcheck\n"
            "bad = [m for m in ('numba', 'dpctl', 'numba_dpex') if m in sys.modules]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
