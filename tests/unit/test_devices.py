"""Device discovery, SYCL device selection, the oneAPI environment bootstrap and the NumPy
kernel references: everything that needs no SYCL runtime (fake venv layouts in tmp dirs,
fake device records). The kernels on the real device are in tests/xpu."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from orchestrator.library import devices, sycl_env
from orchestrator.library.devices import SyclDevice, sycl_reason
from orchestrator.library.kernels import backend as kbackend
from orchestrator.library.kernels import jacobi_numpy, jacobi_sweeps, lj_forces, lj_numpy
from orchestrator.library.sycl_choice import SelectorTerm, choose_sycl, parse_selector

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- fake venvs


def fake_venv(root: Path, *, runtime: bool = True, ocl: str | None = "libintelocl.so") -> Path:
    """A prefix laid out like a venv with the oneAPI wheels installed."""
    lib = root / "lib"
    lib.mkdir(parents=True)
    if runtime:
        (lib / "libsycl.so.7").write_bytes(b"")
    if ocl:
        (lib / ocl).write_bytes(b"")
    vendors = root / "etc" / "OpenCL" / "vendors"
    vendors.mkdir(parents=True)
    (vendors / "intel-cpu.icd").write_text(
        "/opt/anaconda1anaconda2anaconda3/lib/libintelocl.so\n")
    return root


def test_env_for_a_fresh_process(tmp_path):
    venv = fake_venv(tmp_path)
    env = sycl_env.sycl_env(venv, environ={})
    assert env == {"LD_LIBRARY_PATH": f"{venv}/lib",
                   "OCL_ICD_FILENAMES": f"{venv}/lib/libintelocl.so",
                   "SYCL_CACHE_PERSISTENT": "1"}


def test_env_extends_what_is_there_and_is_idempotent(tmp_path):
    venv = fake_venv(tmp_path)
    environ = {"LD_LIBRARY_PATH": "/opt/cuda/lib64", "OCL_ICD_FILENAMES": "/x/libigdrcl.so",
               "SYCL_CACHE_PERSISTENT": "0"}
    env = sycl_env.sycl_env(venv, environ)
    assert env["LD_LIBRARY_PATH"] == f"{venv}/lib:/opt/cuda/lib64"
    assert env["OCL_ICD_FILENAMES"] == f"/x/libigdrcl.so:{venv}/lib/libintelocl.so"
    assert env["SYCL_CACHE_PERSISTENT"] == "0"  # the user's choice stays
    environ.update(env)
    assert sycl_env.sycl_env(venv, environ) == env
    assert sycl_env.missing_sycl_env(venv, environ) == {}


def test_no_runtime_no_env(tmp_path):
    venv = fake_venv(tmp_path, runtime=False)
    assert sycl_env.sycl_env(venv, environ={}) == {}
    assert sycl_env.shell_exports(venv) == []


def test_versioned_opencl_driver_is_found(tmp_path):
    venv = fake_venv(tmp_path, ocl="libintelocl.so.2024.18.7.0")
    (venv / "lib" / "libintelocl.so-gdb.py").write_text("")
    assert sycl_env.find_intelocl(venv) == venv / "lib" / "libintelocl.so.2024.18.7.0"


def test_shell_exports_extend_the_worker_environment(tmp_path):
    venv = fake_venv(tmp_path / "my venv")
    script = "\n".join([*sycl_env.shell_exports(venv),
                        'echo "$LD_LIBRARY_PATH|$OCL_ICD_FILENAMES|$SYCL_CACHE_PERSISTENT"'])
    env = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": "/site/lib"}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    assert out == f"{venv}/lib:/site/lib|{venv}/lib/libintelocl.so|1"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"]}, check=True).stdout.strip()
    assert out == f"{venv}/lib|{venv}/lib/libintelocl.so|1"


def test_reexec_argv_restarts_the_same_command():
    argv = sycl_env.reexec_argv(["/v/bin/python", "-m", "orchestrator", "devices"])
    assert argv == [sys.executable, "-m", "orchestrator", "devices"]


def _run_ensure(venv: Path, **extra: str) -> dict:
    code = textwrap.dedent(f"""
        import json, os, sys
        from orchestrator.library import sycl_env
        print("start", os.getpid(), flush=True)
        ok = sycl_env.ensure_sycl_env({str(venv)!r})
        print(json.dumps({{"ok": ok, "pid": os.getpid(), "argv": sys.argv,
                          "env": {{k: os.environ.get(k) for k in
                                  ("LD_LIBRARY_PATH", "OCL_ICD_FILENAMES", "ORCH_SYCL_REEXEC")}}}}))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "OCL_ICD_FILENAMES", sycl_env.MARKER)}
    env.update(extra, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, "arg1"], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    lines = proc.stdout.strip().splitlines()
    return {"starts": [ln for ln in lines if ln.startswith("start")],
            **json.loads(lines[-1])}


def test_ensure_reexecs_once_with_the_env(tmp_path):
    venv = fake_venv(tmp_path)
    out = _run_ensure(venv)
    assert len(out["starts"]) == 2  # the original process, then the re-exec'd one
    assert out["starts"][0].split()[1] == str(out["pid"])  # same process (execve)
    assert out["ok"] is True and out["argv"] == ["-c", "arg1"]
    assert out["env"]["LD_LIBRARY_PATH"].split(":")[0] == f"{venv}/lib"
    assert out["env"]["OCL_ICD_FILENAMES"] == f"{venv}/lib/libintelocl.so"


def test_ensure_never_loops(tmp_path):
    venv = fake_venv(tmp_path)
    out = _run_ensure(venv, **{sycl_env.MARKER: "1"})
    assert len(out["starts"]) == 1 and out["ok"] is False


def test_ensure_does_nothing_without_a_runtime(tmp_path):
    out = _run_ensure(fake_venv(tmp_path, runtime=False))
    assert len(out["starts"]) == 1 and out["ok"] is True


# ---------------------------------------------------------------- why no device


def test_reason_dpctl_missing(tmp_path):
    why = sycl_reason(import_error="No module named 'dpctl'", prefix=fake_venv(tmp_path))
    assert "scripts/install-xpu.sh" in why


def test_reason_libraries_not_on_the_loader_path(tmp_path):
    venv = fake_venv(tmp_path)
    why = sycl_reason(import_error="libintlc.so.5: cannot open shared object file",
                      prefix=venv, environ={})
    assert f"LD_LIBRARY_PATH lacks {venv}/lib" in why


def test_reason_icd_not_registered(tmp_path):
    venv = fake_venv(tmp_path)
    why = sycl_reason(n_devices=0, prefix=venv, environ={"LD_LIBRARY_PATH": f"{venv}/lib"})
    assert f"OCL_ICD_FILENAMES={venv}/lib/libintelocl.so" in why
    assert "anaconda1anaconda2anaconda3" in why  # shows why the wheel's ICD file fails


def test_reason_selector_hides_everything(tmp_path):
    why = sycl_reason(n_devices=0, prefix=fake_venv(tmp_path),
                      environ={"ONEAPI_DEVICE_SELECTOR": "level_zero:gpu"})
    assert "ONEAPI_DEVICE_SELECTOR=level_zero:gpu matches no device" in why


def test_reason_none_when_devices_exist(tmp_path):
    assert sycl_reason(n_devices=1, prefix=fake_venv(tmp_path)) is None


def test_reason_when_nothing_is_installed(tmp_path):
    why = sycl_reason(n_devices=0, prefix=fake_venv(tmp_path, runtime=False, ocl=None),
                      environ={})
    assert "install it with scripts/install-xpu.sh" in why


# ---------------------------------------------------------------- selection


CPU = SyclDevice("opencl:cpu:0", "opencl", "cpu", "Xeon")
L0 = [SyclDevice(f"level_zero:gpu:{i}", "level_zero", "gpu", "Max 1550") for i in range(2)]
OCL_GPU = SyclDevice("opencl:gpu:0", "opencl", "gpu", "Max 1550")


def test_parse_selector():
    assert parse_selector("level_zero:0.1;!opencl:*") == [
        SelectorTerm("level_zero", "0.1"), SelectorTerm("opencl", "*", True)]
    assert parse_selector("opencl:cpu,gpu") == [SelectorTerm("opencl", "cpu"),
                                                SelectorTerm("opencl", "gpu")]
    assert parse_selector(None) == [] and parse_selector("") == []


def test_laptop_xpu_task_falls_back_to_opencl_cpu_and_says_so():
    dev, note = choose_sycl([CPU], "xpu", environ={})
    assert dev == CPU
    assert "falling back to the OpenCL CPU device opencl:cpu:0" in note


def test_planned_fallback_is_not_a_surprise():
    """The plan itself pinned the task to opencl:cpu (the laptop's xpu pool, or the
    fallback of a site without one): still said, but not as a surprise."""
    dev, note = choose_sycl([CPU], "xpu", environ={"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"})
    assert dev == CPU and "the site pins it to the OpenCL CPU" in note
    assert "ONEAPI_DEVICE_SELECTOR=opencl:cpu" in note and "opencl:cpu:0" in note


def test_pinned_tile_uses_the_level_zero_gpu():
    env = {"ONEAPI_DEVICE_SELECTOR": "level_zero:gpu", "ZE_AFFINITY_MASK": "0.1"}
    dev, note = choose_sycl([L0[0], OCL_GPU, CPU], "xpu", environ=env)
    assert dev == L0[0]
    assert "ZE_AFFINITY_MASK=0.1" in note


def test_level_zero_preferred_and_extra_devices_reported():
    dev, note = choose_sycl([CPU, OCL_GPU, *L0], "xpu", environ={})
    assert dev == L0[0] and "2 more visible" in note


def test_selector_applied_when_the_runtime_did_not():
    """A selector set after the runtime started (a worker's per-task env) still decides."""
    env = {"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}
    assert choose_sycl([CPU, *L0], "xpu", environ=env)[0] == L0[1]
    env = {"ONEAPI_DEVICE_SELECTOR": "!level_zero:*"}
    assert choose_sycl([CPU, *L0], "xpu", environ=env)[0] == CPU


def test_cpu_and_gpu_stages():
    assert choose_sycl([CPU, *L0], "cpu", environ={})[0] == CPU
    dev, note = choose_sycl([CPU, *L0], "gpu", environ={})
    assert dev is None and "CUDA" in note


def test_no_device_gives_the_reason():
    dev, note = choose_sycl([], "xpu", environ={}, reason="dpctl is not installed; ...")
    assert dev is None and "dpctl is not installed" in note


def test_nothing_allowed_by_the_pinning():
    dev, note = choose_sycl([*L0], "xpu", environ={"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"})
    assert dev is None and "ONEAPI_DEVICE_SELECTOR=opencl:cpu" in note


# ---------------------------------------------------------------- inventory


def test_cpu_model_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Intel(R) Xeon(R) Max 9480\n")
    cpu = devices.cpu_info(info)
    assert cpu.model == "Intel(R) Xeon(R) Max 9480"
    assert cpu.logical_cpus >= cpu.usable_cpus >= 1
    assert devices.cpu_info(tmp_path / "missing").model == "unknown"


def test_inventory_json_shape():
    tile = SyclDevice("level_zero:0.1", "level_zero", "gpu", "Max 1550 tile")
    gpu = SyclDevice("level_zero:gpu:0", "level_zero", "gpu", "Max 1550", sub_devices=(tile,))
    inv = devices.Inventory(cpu=devices.CpuInfo("X", 4, 2), sycl=(gpu,),
                            cuda_reason="torch is not installed",
                            pinning={"ZE_AFFINITY_MASK": "0"})
    data = json.loads(json.dumps(inv.to_json()))
    assert set(data) == {"cpu", "cuda", "sycl", "pinning"}
    assert data["sycl"]["devices"][0]["sub_devices"][0]["filter_string"] == "level_zero:0.1"
    assert data["cuda"] == {"devices": [], "reason": "torch is not installed"}


def test_discovery_never_raises():
    """Whatever this machine has (the test process has no oneAPI environment)."""
    data = devices.discover().to_json()
    assert data["sycl"]["devices"] or data["sycl"]["reason"]
    assert data["cuda"]["devices"] or data["cuda"]["reason"]


# ---------------------------------------------------------------- backends and references


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        kbackend.resolve_backend("cuda")


def test_auto_says_why_sycl_was_passed_over(monkeypatch):
    def no_sycl(device, resources_device):
        raise kbackend.BackendUnavailable("dpctl is not installed")

    monkeypatch.setattr(kbackend, "sycl_queue", no_sycl)
    chosen = kbackend.resolve_backend("auto")
    assert chosen.name in ("numba", "numpy")
    assert "sycl: dpctl is not installed" in chosen.note
    with pytest.raises(kbackend.BackendUnavailable):
        kbackend.resolve_backend("sycl")


def _jacobi_loops(u, f, h, sweeps):
    u = u.astype(np.float64)
    for _ in range(sweeps):
        new = u.copy()
        for i in range(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                new[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]
                                    + h * h * f[i, j])
        u = new
    return u


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-15), (np.float32, 1e-6)])
def test_jacobi_reference_against_plain_loops(dtype, tol):
    rng = np.random.default_rng(3)
    u, f = rng.random((9, 13)).astype(dtype), rng.random((9, 13)).astype(dtype)
    got = jacobi_numpy(u, f, 0.1, 5)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _jacobi_loops(u, f, 0.1, 5), rtol=tol, atol=tol)
    res = jacobi_sweeps(u, f, 0.1, 5, backend="numpy")
    assert res.backend.name == "numpy" and np.array_equal(res.u, got)


def test_lj_reference_forces_are_minus_the_energy_gradient():
    rng = np.random.default_rng(4)
    box, cutoff = 6.0, 2.5
    g = (np.arange(4) + 0.5) * box / 4
    pos = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pos = pos + rng.uniform(-0.1, 0.1, pos.shape)
    forces, _ = lj_numpy(pos, box, cutoff, shift=True)
    assert np.abs(forces.sum(axis=0)).max() < 1e-9  # Newton's third law
    step = 1e-6
    for i, k in [(0, 0), (5, 1), (17, 2)]:
        plus, minus = pos.copy(), pos.copy()
        plus[i, k] += step
        minus[i, k] -= step
        grad = (lj_numpy(plus, box, cutoff, shift=True)[1]
                - lj_numpy(minus, box, cutoff, shift=True)[1]) / (2 * step)
        assert forces[i, k] == pytest.approx(-grad, rel=1e-5, abs=1e-6)


def test_lj_pair_across_the_boundary():
    """Two particles 1.0 apart through the periodic boundary: one pair, u(1) = 0."""
    pos = np.array([[0.2, 1.0, 1.0], [4.2, 1.0, 1.0]])
    res = lj_forces(pos, 5.0, 2.5, backend="numpy")
    assert res.energy == pytest.approx(0.0, abs=1e-12)
    assert res.forces[0, 0] == pytest.approx(24.0)  # pushed in +x, away from its image
    assert res.forces[1, 0] == pytest.approx(-24.0)


def test_lj_rejects_a_cutoff_beyond_half_the_box():
    with pytest.raises(ValueError, match="cutoff <= box/2"):
        lj_numpy(np.zeros((2, 3)), 4.0, 2.5)
