"""cpu, gpu and xpu stages: masks on the XPU cluster example, a real run on the laptop."""

from __future__ import annotations

import json

import pytest

from .conftest import orch, results

pytestmark = pytest.mark.timeout(300)


def test_masks_on_the_xpu_cluster(wf):
    p = orch("plan", str(wf / "devices.yaml"), "--site", "xpu-cluster", "--format", "json")
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    masks = {t["id"]: t["device_mask"] for t in plan["tasks"]}
    assert masks["on_cpu"] == {}
    assert masks["on_gpu"] == {"CUDA_VISIBLE_DEVICES": ""}  # falls back to cpu, with a warning
    assert any("no gpu pool" in w for w in plan["warnings"])
    assert [masks[f"on_xpu[{k}]"]["ZE_AFFINITY_MASK"] for k in range(3)] == ["0.0", "0.1", "1.0"]
    assert masks["on_xpu[0]"]["ONEAPI_DEVICE_SELECTOR"] == "level_zero:gpu"


def test_a_stage_can_forbid_the_fallback(wf, tmp_path):
    spec = (wf / "devices.yaml").read_text().replace(
        "resources: {device: gpu, gpus: 1}", "resources: {device: gpu, gpus: 1, fallback: false}")
    (tmp_path / "devices.py").write_text((wf / "devices.py").read_text())
    (tmp_path / "wf.yaml").write_text(spec)
    p = orch("validate", str(tmp_path / "wf.yaml"), "--site", "laptop")
    assert p.returncode == 1
    assert "has no gpu pool and this stage forbids fallbacks" in p.stderr


@pytest.mark.xpu
def test_cpu_gpu_xpu_stages_run_on_the_laptop(wf, tmp_path):
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "devices.yaml"), "--site", "laptop", "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    warnings = json.loads((run_dir / "plan.json").read_text())["warnings"]
    assert any("no gpu pool" in w for w in warnings), warnings
    res = results(run_dir)
    assert res["on_gpu"]["cuda"] == ""  # the fallback hides GPUs from the task
    for k in range(3):
        xpu = res[f"on_xpu[{k}]"]
        assert xpu["selector"] == "opencl:cpu"
        assert xpu["backend"].startswith("sycl (opencl:cpu")
        assert xpu["max_err"] <= 1e-12


def test_amd_gpus_are_pinned_per_task_at_run_time(wf, tmp_path):
    """A local node declaring 4 AMD GPUs (backend: rocm; tasks only read their variables):
    each gpu task runs with its planned ROCR_VISIBLE_DEVICES, a cpu task sees no GPU."""
    from conftest import FIXTURES

    site = (FIXTURES / "sites/mixed-local.yaml").read_text().replace(
        "    device: gpu\n", "    device: gpu\n    backend: rocm\n")
    (tmp_path / "amd.yaml").write_text(site)
    (tmp_path / "placement.py").write_text((wf / "placement.py").read_text())
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: orchestrator/v1\nname: amd\nstages:\n"
        "  on_gpu:\n    python: placement:probe\n    args: {seconds: 0.2}\n"
        "    sweep: {values: {k: [0, 1, 2]}}\n    resources: {device: gpu, gpus: 1}\n"
        "  on_cpu:\n    python: placement:probe\n    args: {seconds: 0.2}\n"
        "    resources: {cores: 1}\n")
    run_dir = tmp_path / "run"
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", str(tmp_path / "amd.yaml"),
             "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    planned = {t["id"]: t["device_mask"]
               for t in json.loads((run_dir / "plan.json").read_text())["tasks"]}
    assert [planned[f"on_gpu[{k}]"] for k in range(3)] == [
        {"ROCR_VISIBLE_DEVICES": u} for u in ("0", "1", "2")]
    res = results(run_dir)
    for k in range(3):
        env = res[f"on_gpu[{k}]"]["env"]
        assert env["ROCR_VISIBLE_DEVICES"] == planned[f"on_gpu[{k}]"]["ROCR_VISIBLE_DEVICES"]
        assert "CUDA_VISIBLE_DEVICES" not in env
    assert res["on_cpu"]["env"]["ROCR_VISIBLE_DEVICES"] == ""
