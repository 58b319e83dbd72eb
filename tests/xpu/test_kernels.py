"""Every kernel backend against the NumPy reference on the real SYCL `opencl:cpu` device:
float64 to 1e-12 and float32 to 1e-5, relative to the largest reference value. Grid
sizes include interiors that are no multiple of any work-group size (1, 3, 97, 997)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xpu

BACKENDS = ["sycl", "numba", "numpy"]
TOL = {"float64": 1e-12, "float32": 1e-5}
GRIDS = [(3, 3), (5, 4), (18, 34), (99, 37), (258, 130), (999, 1001)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", GRIDS, ids=lambda s: "x".join(map(str, s)))
def test_jacobi_matches_reference(sycl, backend, dtype, shape):
    out = sycl("jacobi", dtype=dtype, shape=list(shape), sweeps=7, backend=backend)
    assert out["backend"]["name"] == backend
    assert out["dtype"] == dtype and out["shape"] == list(shape)
    assert out["boundary_kept"] and out["input_unchanged"]
    assert out["rel_err"] <= TOL[dtype], out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobi_halo_rows_on_the_device(sycl, backend, dtype):
    """Two half-grids exchanging halo rows each sweep equal one whole-grid run."""
    out = sycl("jacobi_halo", dtype=dtype, shape=[41, 29], sweeps=9, backend=backend)
    assert out["backend"]["name"] == backend
    assert out["rel_err"] <= TOL[dtype], out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 97, 343, 1000])
def test_lj_matches_reference(sycl, backend, dtype, n):
    out = sycl("lj", dtype=dtype, n=n, backend=backend, shift=n == 97)
    assert out["backend"]["name"] == backend
    assert out["dtype"] == dtype and out["shape"] == [n, 3]
    assert out["force_rel_err"] <= TOL[dtype], out
    if n > 1:
        assert out["energy_rel_err"] <= TOL[dtype], out
    else:
        assert out["energy"] == 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 97, 500])
def test_pair_table_matches_reference(sycl, backend, dtype, n):
    """Every backend against the NumPy table reference; the table itself (4001 points)
    reproduces the analytic shifted LJ kernel to interpolation accuracy. float32 gets 5e-5:
    the table position t = (r - r0) / dr reaches 4000, so its rounding moves a pair along
    the table by ~2e-4 of a bin."""
    tol = {"float64": 1e-12, "float32": 5e-5}[dtype]
    out = sycl("pair_table", dtype=dtype, n=n, backend=backend)
    assert out["backend"]["name"] == backend
    assert out["dtype"] == dtype and out["shape"] == [n, 3]
    assert out["force_rel_err"] <= tol, out
    if n > 1:
        assert out["energy_rel_err"] <= tol, out
        assert out["interp_force_rel_err"] < 1e-4 and out["interp_energy_rel_err"] < 1e-4, out
    else:
        assert out["energy"] == 0.0


def test_discovery_lists_the_opencl_cpu_device(sycl):
    out = sycl("devices")
    sycl_devices = out["inventory"]["sycl"]["devices"]
    cpus = [d for d in sycl_devices if d["backend"] == "opencl" and d["device_type"] == "cpu"]
    assert cpus, out
    assert cpus[0]["filter_string"].startswith("opencl:cpu:")
    assert cpus[0]["compute_units"] >= 1 and cpus[0]["global_mem_bytes"] > 0
    assert out["inventory"]["sycl"]["reason"] is None


def test_xpu_task_without_a_gpu_falls_back_to_opencl_cpu_and_says_so(sycl):
    out = sycl("devices")
    if any(d["device_type"] == "gpu" for d in out["inventory"]["sycl"]["devices"]):
        pytest.skip("this machine has a SYCL GPU: no fallback to test")
    assert out["selected"].startswith("opencl:cpu")
    assert "falling back to the OpenCL CPU device" in out["note"]


def test_auto_backend_picks_sycl_when_a_device_exists(sycl):
    out = sycl("auto_backend")
    assert out["name"] == "sycl" and out["device"], out


def test_kernel_launch_overhead_is_small_after_jit(sycl):
    """A generous bound (a loaded 2-core CI machine): an empty kernel launch, submission
    to completion, under 5 ms; about 55 us is typical on opencl:cpu."""
    assert sycl("launch_overhead")["median_s"] < 5e-3


def test_inventory_from_a_process_without_the_oneapi_env(sycl):
    """What `orch devices` uses: discovery runs in a child with the environment when this
    process lacks it (the pytest process usually does), and lists the CPU device."""
    from orchestrator.library.devices import inventory_json, render_text

    data = inventory_json()
    assert any(d["filter_string"].startswith("opencl:cpu") for d in data["sycl"]["devices"]), data
    assert "SYCL  opencl:cpu:" in render_text(data)
