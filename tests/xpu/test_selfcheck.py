"""Issue 13 and the backend self-check, on the real SYCL `opencl:cpu` device.

Issue 13: on an AMD EPYC without AVX-512 the table kernel's float32 forces were wrong
(relative error 1.0). The cause was numba-dpex's kernel launcher, host code that numba
compiles for the host CPU (docs/decisions.md); `on_generic_host` reproduces such a host
on any x86-64 machine by having numba compile host code for plain x86-64."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.xpu

REFUSAL = (r"^opencl:cpu:\d+ \(.+\): kernel pair_table float32 disagrees with the NumPy "
           r"reference \(max relative error 0\.5\d* > 5e-05\); refusing the device$")


def test_issue_13_table_kernel_right_on_a_host_without_avx512(sycl):
    """The cases that failed on the AVX2-only EPYC, with host code for plain x86-64."""
    for n in (2, 97):
        out = sycl("on_generic_host", name="raw_table", n=n, dtype="float32")
        assert out["force_rel_err"] < 5e-5, out
        assert out["energy"] == pytest.approx(out["ref_energy"], rel=5e-5), out
        assert out["refused"] is None, out


def test_kernel_launchers_have_no_zero_size_stack_arrays(sycl):
    """The fix itself: numba-dpex zero-fills the first slot of every stack array it
    passes to the runtime, so none may have zero slots (the dependent events did)."""
    out = sycl("launcher_zero_size_arrays")
    assert out["launchers"] >= 1 and out["zero_size"] == 0, out


def test_issue_13_reproduced_without_the_launcher_fix(sycl):
    """Without the fix the same host code drops the 7th float32 scalar (`half`): no
    energy, wrong forces; and the self-check catches it and refuses the device."""
    versions = sycl("launcher_versions")
    if not (versions["numba_dpex"].startswith("0.23.") and versions["llvmlite"] == "0.42.0"):
        pytest.skip(f"the frame layout that shows the bug is that of numba-dpex 0.23 with "
                    f"llvmlite 0.42 (here {versions})")
    out = sycl("on_generic_host", name="raw_table", fix=False, n=97, dtype="float32")
    assert out["energy"] == 0.0 and out["force_rel_err"] > 0.9, out
    assert re.match(r"^opencl:cpu:\d+ \(.+\): kernel pair_table float32 disagrees with the "
                    r"NumPy reference \(max relative error 1\.0 > 5e-05\); refusing the "
                    r"device$", out["refused"]), out


def test_selfcheck_passes_on_the_device_and_is_cheap(sycl):
    out = sycl("selfcheck_on_the_device")
    assert out["used"] == ["sycl", "sycl", "numba", "numba"], out
    checks = {(c["backend"], c["kernel"], c["dtype"]): c for c in out["checks"]}
    assert set(checks) == {(b, "pair_table", d) for b in ("sycl", "numba")
                           for d in ("float32", "float64")}, out
    assert all(c["ok"] and c["error"] is None for c in checks.values()), out
    assert checks["sycl", "pair_table", "float32"]["device"].startswith("opencl:cpu:")
    assert checks["sycl", "pair_table", "float32"]["max_rel_err"] < 1e-6
    assert all(cost < 0.05 for cost in out["median_cost_s"].values()), out


def test_wrong_kernel_refuses_an_explicit_device(sycl):
    out = sycl("wrong_table_kernel", backend="sycl")
    assert out["backends"] == [], out
    assert [e["type"] for e in out["errors"]] == ["KernelRefused", "KernelRefused"], out
    assert re.match(REFUSAL, out["errors"][0]["message"]), out
    assert out["wrong_kernel_calls"] == 1, "the refusal is cached: checked once per process"


def test_wrong_kernel_makes_auto_fall_back_to_numba_and_say_so(sycl):
    out = sycl("wrong_table_kernel", backend="auto")
    assert out["errors"] == [] and len(out["backends"]) == 2, out
    backend = out["backends"][0]
    assert backend["name"] == "numba" and backend["device"] is None, out
    note = backend["note"]
    assert note.startswith("auto: numba CPU (parallel); sycl: "), note
    assert re.match(REFUSAL, note.split("; sycl: ", 1)[1]), note
    assert out["force_rel_err"] < 5e-5, "numba's forces are right"
    assert len(out["warnings"]) == 2 and out["warnings"][0].endswith(
        "refusing the device; running on numba instead"), out
    assert out["wrong_kernel_calls"] == 1, out


def test_orch_devices_json_lists_the_checks(sycl, capsys):
    from orchestrator.cli.app import main
    from orchestrator.library.devices import render_text

    assert main(["devices", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    results = data["checks"]["results"]
    cpu = next(d["filter_string"] for d in data["sycl"]["devices"]
               if d["filter_string"].startswith("opencl:cpu:"))
    for backend, device in (("sycl", cpu), ("numba", None)):
        mine = [c for c in results if c["backend"] == backend and c["device"] == device]
        assert sorted((c["kernel"], c["dtype"]) for c in mine) == sorted(
            (k, d) for k in ("jacobi", "lj", "pair_table") for d in ("float32", "float64"))
        assert all(c["ok"] is True and c["error"] is None for c in mine), mine
        assert all(c["max_rel_err"] <= c["tolerance"] for c in mine), mine
    text = render_text(data)
    assert f"CHECK {cpu} (" in text and "CHECK numba (CPU)  6 of 6 kernel checks ok" in text
