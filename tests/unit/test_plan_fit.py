"""Binding stages to pools: fit errors at the YAML line that asked, fallbacks, device masks, cost."""

from __future__ import annotations

import textwrap

import pytest
from conftest import FIXTURES, plan_of, site, spec_text

from orchestrator.errors import Loc, PlanError
from orchestrator.plan.build import build_plan
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec


def one_stage(resources: str, name: str = "s", sweep: str = "") -> str:
    body = f"{name}:\n  shell: echo\n"
    if sweep:
        body += "  sweep:\n" + textwrap.indent(textwrap.dedent(sweep).strip("\n"), "    ") + "\n"
    body += "  resources:\n" + textwrap.indent(textwrap.dedent(resources).strip("\n"), "    ")
    return spec_text(body)


FIT_CASES = [
    # site, resources, key the error points at, path suffix, message
    ("local-slurm", "device: gpu\ngpus: 5", "gpus", "gpus",
     "needs 5 GPUs per node; pool 'gpu' (local-slurm) has 4"),
    ("local-slurm", "walltime: '02:00:00'", "walltime", "walltime",
     "02:00:00 exceeds the 01:00:00 limit of pool 'cpu' (local-slurm)"),
    ("local-slurm", "walltime: 61m", "walltime", "walltime",
     "01:01:00 exceeds the 01:00:00 limit of pool 'cpu' (local-slurm)"),
    ("local-slurm", "cores: 3", "cores", "cores",
     "needs 3 cores per node; pool 'cpu' (local-slurm) has 2 cores per node"),
    ("local-slurm", "memory: 5GiB", "memory", "memory",
     "needs 5GiB per node; pool 'cpu' (local-slurm) has 4GiB"),
    ("local-slurm", "ranks: 2\nnodes: 2", "nodes", "nodes",
     "asks for 2 nodes; blocks of pool 'cpu' (local-slurm) have 1 (nodes_per_block)"),
    ("local-slurm", "device: gpu\npool: gpus", "pool", "pool",
     "site 'local-slurm' has no pool 'gpus'"),
    ("gpu-cluster", "device: gpu\ngpus: 5", "gpus", "gpus",
     "needs 5 GPUs per node; pool 'gpu' (gpu-cluster) has 4"),
    ("gpu-cluster", "device: gpu\nranks: 2\ngpus: 3", "gpus", "gpus",
     "needs 6 GPUs per node; pool 'gpu' (gpu-cluster) has 4"),
    ("gpu-cluster", "walltime: 3d", "walltime", "walltime",
     "3-00:00:00 exceeds the 2-00:00:00 limit of pool 'cpu' (gpu-cluster)"),
    ("xpu-cluster", "device: xpu\nxpus: 13", "xpus", "xpus",
     "needs 13 tiles per node; pool 'xpu' (xpu-cluster) has 12"),
    ("xpu-cluster", "memory: 2TiB", "memory", "memory",
     "needs 2TiB per node; pool 'cpu' (xpu-cluster) has 1TiB"),
    (str(FIXTURES / "sites" / "cpu-gpu-no-fallback.yaml"), "device: xpu", "device", "device",
     "site 'cpu-gpu-no-fallback' has no xpu pool and no fallback for it"),
]


@pytest.mark.parametrize(("site_name", "resources", "key", "suffix", "message"), FIT_CASES,
                         ids=[f"{c[0].rsplit('/', 1)[-1]}-{c[2]}-{i}"
                              for i, c in enumerate(FIT_CASES)])
def test_fit_errors_are_located(spec_file, site_name, resources, key, suffix, message):
    path = spec_file(one_stage(resources))
    spec = load_spec(path)
    with pytest.raises(PlanError) as info:
        build_plan(spec, load_site(site_name))
    (d,) = info.value.diagnostics
    assert d.path == f"stages.s.resources.{suffix}"
    assert d.message == message
    assert d.loc == spec.locate("stages", "s", "resources", key)
    assert d.loc.file == "wf.yaml" and d.loc.line >= 5


def test_pool_typo_gets_a_hint(spec_file):
    spec = load_spec(spec_file(one_stage("device: gpu\npool: gpus")))
    with pytest.raises(PlanError) as info:
        build_plan(spec, site("local-slurm"))
    assert info.value.diagnostics[0].hint == "did you mean 'gpu'?"


def test_every_misfit_is_reported(spec_file):
    path = spec_file(spec_text("""
a:
  shell: echo
  resources: {device: gpu, gpus: 5, walltime: 2h, memory: 8GiB}
b:
  shell: echo
  needs: [a]
  resources: {cores: 4}
"""))
    with pytest.raises(PlanError) as info:
        build_plan(load_spec(path), site("local-slurm"))
    paths = [d.path for d in info.value.diagnostics]
    # sorted by position: same line, by column
    assert paths == ["stages.a.resources.gpus", "stages.a.resources.walltime",
                     "stages.a.resources.memory", "stages.b.resources.cores"]
    lines = [d.loc.line for d in info.value.diagnostics]
    assert lines == [6, 6, 6, 10]


def test_a_fitting_spec_plans(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 2\ncores: 2\nmemory: 4GiB\nwalltime: 1h"))
    plan = plan_of(path, "local-slurm")
    assert plan.stages["s"].binding.pool == "gpu"
    assert plan.stages["s"].tasks[0].device_mask == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_rank_misfit_points_at_ranks_when_cores_is_not_written(spec_file):
    spec = load_spec(spec_file(one_stage("walltime: 5m\nranks: 100")))
    with pytest.raises(PlanError) as info:
        build_plan(spec, site("gpu-cluster"))  # 64 cores per node, no oversubscription
    assert info.value.diagnostics[0].loc == spec.locate("stages", "s", "resources", "ranks")


# ---------------------------------------------------------------- fallbacks


def test_gpu_falls_back_to_cpu_on_laptop(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 1\ncores: 1", sweep="values: {i: [1, 2, 3]}"))
    plan = plan_of(path, "laptop")
    stage = plan.stages["s"]
    assert stage.binding.pool == "cpu"
    assert stage.binding.fallback is True
    assert stage.binding.requested == "gpu" and stage.binding.device == "cpu"
    assert [t.device_mask for t in stage.tasks] == [{"CUDA_VISIBLE_DEVICES": ""}] * 3
    assert plan.warnings == ("stage 's': site 'laptop' has no gpu pool; running on 'cpu' (cpu)",)
    assert stage.resources["gpus"] == 0
    assert plan.summary()["gpu_hours"] == 0.0


def test_xpu_falls_back_to_the_opencl_cpu_device_on_gpu_cluster(spec_file):
    plan = plan_of(spec_file(one_stage("device: xpu")), "gpu-cluster")
    stage = plan.stages["s"]
    assert stage.binding.fallback and stage.binding.pool == "cpu"
    assert stage.tasks[0].device_mask == {"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}
    assert len(plan.warnings) == 1


def test_gpu_falls_back_on_xpu_cluster(spec_file):
    plan = plan_of(spec_file(one_stage("device: gpu")), "xpu-cluster")
    assert plan.stages["s"].tasks[0].device_mask == {"CUDA_VISIBLE_DEVICES": ""}


def test_fallback_stage_still_checks_cpu_limits(spec_file):
    spec = load_spec(spec_file(one_stage("device: gpu\ncores: 300")))
    with pytest.raises(PlanError) as info:
        build_plan(spec, site("xpu-cluster"))
    assert info.value.diagnostics[0].message == (
        "needs 300 cores per node; pool 'cpu' (xpu-cluster) has 208 cores per node")
    spec = load_spec(spec_file(one_stage("device: gpu\ncores: 200")))
    assert build_plan(spec, site("xpu-cluster")).stages["s"].binding.fallback


# ---------------------------------------------------------------- device masks


def masks(plan, stage):
    return [t.device_mask for t in plan.stages[stage].tasks]


def test_one_gpu_tasks_cycle_through_the_gpus_of_a_node(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 1", sweep="values: {i: {start: 0, stop: 8, step: 1}}"))
    plan = plan_of(path, "gpu-cluster")
    got = [m["CUDA_VISIBLE_DEVICES"] for m in masks(plan, "s")]
    assert got == ["0", "1", "2", "3", "0", "1", "2", "3"]
    assert all(set(m) == {"CUDA_VISIBLE_DEVICES"} for m in masks(plan, "s"))
    assert plan.stages["s"].binding.slots_per_node == 4


def test_two_gpu_tasks_get_pairs(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 2", sweep="values: {i: [1, 2, 3, 4, 5]}"))
    plan = plan_of(path, "gpu-cluster")
    got = [m["CUDA_VISIBLE_DEVICES"] for m in masks(plan, "s")]
    assert got == ["0,1", "2,3", "0,1", "2,3", "0,1"]
    assert plan.stages["s"].binding.slots_per_node == 2


def test_three_gpu_tasks_leave_one_gpu_idle(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 3", sweep="values: {i: [1, 2]}"))
    assert [m["CUDA_VISIBLE_DEVICES"] for m in masks(plan_of(path, "gpu-cluster"), "s")] == \
        ["0,1,2", "0,1,2"]


def test_mpi_ranks_multiply_the_gpus_of_a_task(spec_file):
    path = spec_file(one_stage("device: gpu\ngpus: 1\nranks: 2", sweep="values: {i: [1, 2, 3]}"))
    plan = plan_of(path, "gpu-cluster")
    assert [m["CUDA_VISIBLE_DEVICES"] for m in masks(plan, "s")] == ["0,1", "2,3", "0,1"]
    assert plan.stages["s"].binding.ranks_per_node == 2


def test_xpu_tiles_are_pinned_one_per_task(spec_file):
    path = spec_file(one_stage("device: xpu\nxpus: 1", sweep="values: {i: {start: 0, stop: 14, step: 1}}"))
    got = masks(plan_of(path, "xpu-cluster"), "s")
    tiles = [f"{d}.{t}" for d in range(6) for t in range(2)]
    assert [m["ZE_AFFINITY_MASK"] for m in got] == tiles + tiles[:2]
    assert all(m["ONEAPI_DEVICE_SELECTOR"] == "level_zero:gpu" for m in got)
    assert set(got[0]) == {"ZE_AFFINITY_MASK", "ONEAPI_DEVICE_SELECTOR"}


def test_two_tile_tasks_get_a_whole_gpu(spec_file):
    path = spec_file(one_stage("device: xpu\nxpus: 2", sweep="values: {i: {start: 0, stop: 7, step: 1}}"))
    got = [m["ZE_AFFINITY_MASK"] for m in masks(plan_of(path, "xpu-cluster"), "s")]
    assert got == ["0.0,0.1", "1.0,1.1", "2.0,2.1", "3.0,3.1", "4.0,4.1", "5.0,5.1", "0.0,0.1"]


def test_laptop_xpu_uses_the_opencl_cpu_device(spec_file):
    path = spec_file(one_stage("device: xpu", sweep="values: {i: [1, 2]}"))
    plan = plan_of(path, "laptop")
    assert plan.stages["s"].binding.pool == "xpu" and not plan.stages["s"].binding.fallback
    assert masks(plan, "s") == [{"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}] * 2
    assert plan.warnings == ()


def test_local_slurm_xpu_pool_uses_its_selector(spec_file):
    plan = plan_of(spec_file(one_stage("device: xpu")), "local-slurm")
    assert masks(plan, "s") == [{"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}]


def test_cpu_tasks_have_no_mask(spec_file):
    plan = plan_of(spec_file(one_stage("cores: 1", sweep="values: {i: [1, 2]}")), "gpu-cluster")
    assert masks(plan, "s") == [{}, {}]


def test_explicit_pool_with_matching_device(tmp_path, spec_file):
    site_file = tmp_path / "two-gpu-pools.yaml"
    site_file.write_text(textwrap.dedent("""
        apiVersion: orchestrator/v1
        name: two
        scheduler: slurm
        pools:
          small:
            device: gpu
            accelerators_per_node: 2
            cores_per_node: 8
          big:
            device: gpu
            accelerators_per_node: 8
            cores_per_node: 8
    """))
    plan = build_plan(load_spec(spec_file(one_stage("device: gpu\ngpus: 4\npool: big"))),
                      load_site(site_file))
    assert plan.stages["s"].binding.pool == "big"
    assert masks(plan, "s") == [{"CUDA_VISIBLE_DEVICES": "0,1,2,3"}]
    # without `pool`, the first pool of the device class is used, and 4 GPUs do not fit it
    with pytest.raises(PlanError, match="pool 'small'"):
        build_plan(load_spec(spec_file(one_stage("device: gpu\ngpus: 4"))), load_site(site_file))


# ---------------------------------------------------------------- cost


def test_cost_summary(spec_file):
    path = spec_file(spec_text("""
one:
  shell: echo
  sweep: {values: {i: {start: 0, stop: 8, step: 1}}}
  resources: {device: gpu, gpus: 1}
two:
  shell: echo
  sweep: {values: {i: [1, 2, 3, 4]}}
  resources: {device: gpu, gpus: 2}
"""))
    summary = plan_of(path, "gpu-cluster").summary()
    # task_walltime 30 min: 8 x 1 GPU + 4 x 2 GPUs = 16 GPU-tasks x 0.5 h
    assert summary["gpu_hours"] == 8.0
    # a 1-GPU task takes a quarter of a 4-GPU node
    assert summary["node_hours"] == 2.0
    assert summary["charged_node_hours"] == 8.0  # charge_factor 4
    assert summary["tasks"] == 12 and summary["stages"] == 2


def test_loop_cost_counts_max_iterations(spec_file):
    path = spec_file(spec_text("""
train:
  shell: echo
  resources: {walltime: 1h, cores: 64}
""", extra="loops:\n  al:\n    stages: [train]\n    max_iterations: 5\n"))
    summary = plan_of(path, "gpu-cluster").summary()
    assert summary["node_hours"] == 5.0
    assert summary["loops"] == {"al": 5}


def test_located_error_positions_are_in_the_including_file(tmp_path, monkeypatch):
    """A misfit in an included template is reported in the template, where it was written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "part.yaml").write_text(one_stage("device: gpu\ngpus: 9", name="t"))
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: orchestrator/v1\nname: w\ninclude: [part.yaml]\nstages:\n  u: {shell: echo}\n")
    with pytest.raises(PlanError) as info:
        build_plan(load_spec("wf.yaml"), site("gpu-cluster"))
    assert info.value.diagnostics[0].loc == Loc("part.yaml", 8, 13)
