"""The device-kind registry is the one source of masks and pinning variables; AMD GPUs
(backend: rocm) are one entry of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import spec_text

from orchestrator import device_kinds
from orchestrator.plan.build import build_plan
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec

AMD_SITE = textwrap.dedent("""\
    apiVersion: orchestrator/v1
    kind: site
    name: amd-cluster
    scheduler: local
    pools:
      cpu:
        device: cpu
        cores_per_node: 16
        walltime: "01:00:00"
      gpu:
        device: gpu
        backend: rocm
        accelerators_per_node: 4
        cores_per_node: 16
        walltime: "01:00:00"
        also_devices:
          cpu: {}
    """)


def test_both_former_pinning_lists_are_the_registry():
    from orchestrator.backends import task_binding
    from orchestrator.library import devices

    assert devices.PINNING_VARS is task_binding.PINNING_VARS is device_kinds.PINNING_VARS
    assert set(device_kinds.PINNING_VARS) == {
        "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK",
        "ONEAPI_DEVICE_SELECTOR"}


def test_the_registry_imports_nothing_heavy():
    code = ("import sys, orchestrator.device_kinds, orchestrator.site.models, "
            "orchestrator.plan.bind, orchestrator.spec.models; "
            "print([m for m in sys.modules if m.split('.')[0] in ('parsl', 'torch', 'dpctl')])")
    root = str(Path(device_kinds.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.strip() == "[]"


def test_masks_per_backend():
    b = device_kinds.BACKENDS
    assert b["cuda"].mask("0,1") == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert b["rocm"].mask("2") == {"ROCR_VISIBLE_DEVICES": "2"}
    assert b["level_zero"].mask("0.1") == {"ZE_AFFINITY_MASK": "0.1",
                                           "ONEAPI_DEVICE_SELECTOR": "level_zero:gpu"}
    assert b["opencl"].mask("cpu") == {"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}
    assert b["opencl"].mask("gpu", "opencl:1") == {"ONEAPI_DEVICE_SELECTOR": "opencl:1"}
    for kind in device_kinds.KINDS.values():  # every backend a kind names exists and serves it
        assert all(device_kinds.BACKENDS[n].device == kind.name for n in kind.backends)


@pytest.fixture
def amd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amd.yaml").write_text(AMD_SITE)
    return tmp_path


def test_a_rocm_gpu_pool_pins_with_rocr_visible_devices(amd):
    (amd / "wf.yaml").write_text(spec_text(
        "s:\n  shell: echo\n  sweep:\n    values: {i: [1, 2, 3, 4, 5]}\n"
        "  resources: {device: gpu, gpus: 1}\n"
        "c:\n  shell: echo\n  resources: {device: cpu, pool: gpu}\n"))
    plan = build_plan(load_spec("wf.yaml"), load_site(amd / "amd.yaml"))
    assert [t.device_mask for t in plan.stages["s"].tasks] == [
        {"ROCR_VISIBLE_DEVICES": u} for u in ("0", "1", "2", "3", "0")]
    # a cpu task on the GPU nodes hides the AMD GPUs, not CUDA ones
    assert plan.stages["c"].tasks[0].device_mask == {"ROCR_VISIBLE_DEVICES": ""}


def test_orch_plan_shows_rocr_masks(amd):
    (amd / "wf.yaml").write_text(spec_text(
        "s:\n  shell: echo\n  sweep:\n    values: {i: [1, 2]}\n"
        "  resources: {device: gpu, gpus: 2}\n"))
    root = str(Path(device_kinds.__file__).parents[1])  # this checkout's orchestrator
    p = subprocess.run([sys.executable, "-m", "orchestrator", "plan", "wf.yaml", "--site",
                        "amd.yaml", "--format", "json"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": root})
    assert p.returncode == 0, p.stderr
    masks = [t["device_mask"] for t in json.loads(p.stdout)["tasks"]]
    assert masks == [{"ROCR_VISIBLE_DEVICES": "0,1"}, {"ROCR_VISIBLE_DEVICES": "2,3"}]


def test_a_gpu_pool_rejects_an_xpu_backend(amd):
    from orchestrator.errors import UserError

    (amd / "bad.yaml").write_text(AMD_SITE.replace("backend: rocm", "backend: level_zero"))
    with pytest.raises(UserError, match="gpu pools use the cuda or rocm backend"):
        load_site(amd / "bad.yaml")


def test_every_kind_with_units_has_its_hours_in_the_plan_cost():
    from dataclasses import fields

    from orchestrator.plan.cost import unit_hours
    from orchestrator.plan.model import Cost

    assert device_kinds.HOURS_FIELDS == ("gpu_hours", "xpu_hours")
    assert set(device_kinds.HOURS_FIELDS) <= {f.name for f in fields(Cost)}
    assert unit_hours("xpu", 2.5) == {"gpu_hours": 0.0, "xpu_hours": 2.5}
    assert unit_hours("cpu", 2.5) == {"gpu_hours": 0.0, "xpu_hours": 0.0}


def test_the_sycl_selector_is_the_one_pinning_variable_parsl_does_not_set():
    assert device_kinds.SELECTOR_VARS == ("ONEAPI_DEVICE_SELECTOR",)
