"""What runs is what the plan shows (laptop site): each task is bound to exactly its planned
cores and device variables, and tasks of different shapes (1, 2 and all cores; XPU tasks
of another pool on the same machine; shell tasks) never share a CPU or a unit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from placement_audit import audit

from orchestrator.state.results import results_by_task

from .conftest import orch, results

pytestmark = pytest.mark.timeout(300)


def test_tasks_get_their_planned_cores_and_devices(wf, tmp_path):
    from orchestrator.backends.placement import ledger_path

    run_dir = tmp_path / "run"
    ledger = Path(ledger_path(str(run_dir)))
    ledger.write_text("")  # a ledger left by an earlier attempt killed outright: reused
    p = orch("run", str(wf / "placement.yaml"), "--site", "laptop", "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    assert not ledger.exists(), "the node ledger outlived the run"
    node = len(os.sched_getaffinity(0))
    figures = audit(run_dir, node)
    assert figures["tasks"] == 14 and figures["probes"] == 12, figures
    assert figures["peak_cores"] <= node
    if node >= 2:  # 1-core tasks of two pools ran side by side: the packing is not serial
        assert figures["overlapping_starts"] >= 1, figures
    for k in range(2):  # shell tasks: the command saw its cores (nproc follows affinity)
        nproc, omp, _start, _end = (run_dir / "tasks" / f"shell_two[{k}]" / "seen.txt"
                                  ).read_text().split()
        assert int(nproc) == min(2, node) and omp == str(min(2, node))


def test_a_mixed_pool_packs_cpu_gpu_and_xpu_tasks(wf, tmp_path):
    """One mixed node (this machine's cores, 4 GPUs, 2 XPUs x 2 tiles: tasks only read their
    variables): gpus 1, 2, 3, tiles 1 and 2, cores 1, 2 and all, in one allocation."""
    from conftest import FIXTURES

    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "mixed.yaml"), "--site", str(FIXTURES / "sites/mixed-local.yaml"),
             "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    node = len(os.sched_getaffinity(0))
    figures = audit(run_dir, node)
    assert figures["tasks"] == 23, figures
    if node >= 2:
        assert figures["overlapping_starts"] >= 5, figures  # the node was shared


@pytest.mark.slurm
def test_a_mixed_pool_packs_into_one_slurm_allocation(wf, tmp_path):
    """The same promise on the local Slurm cluster: one block (a --gres=gpu:4,
    --cpus-per-task=2 job) runs every shape, within its 2 cores and 4 GPUs."""
    from conftest import FIXTURES

    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "mixed.yaml"), "--site", str(FIXTURES / "sites/slurm-mixed.yaml"),
             "--run-dir", str(run_dir), "-q", timeout=400)
    assert p.returncode == 0, p.stderr
    figures = audit(run_dir, 2)
    assert figures["tasks"] == 23 and figures["peak_cores"] <= 2, figures
    assert figures["overlapping_starts"] >= 5, figures
    jobs = {r["result"]["env"].get("SLURM_JOB_ID")
            for r in results_by_task(run_dir).values()}
    assert len(jobs) == 1 and None not in jobs, jobs  # one allocation for every device class
    script = next(f for f in (run_dir / "parsl").glob("*/submit_scripts/parsl.node.block-0.*")
                  if not f.name.endswith((".stdout", ".stderr")))
    text = script.read_text()
    assert "#SBATCH --gres=gpu:4" in text and "#SBATCH --cpus-per-task=2" in text


def test_one_shape_runs_on_workers_parsl_pinned(wf, tmp_path):
    """Where every task has one shape without devices, Parsl pins each worker to its own
    cores (HTEX cpu_affinity) and the tasks keep to them: no two share a CPU."""
    from conftest import FIXTURES

    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "uniform.yaml"), "--site", str(FIXTURES / "sites/laptop-htex.yaml"),
             "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    node = len(os.sched_getaffinity(0))
    figures = audit(run_dir, node)
    assert figures["tasks"] == 6, figures
    records = results_by_task(run_dir).values()
    assert all(r["placement"]["waited"] == 0.0 for r in records)  # Parsl's pinning, no ledger
    if node >= 2:
        assert figures["overlapping_starts"] >= 2, figures


def test_a_local_process_pool_keeps_the_placement_and_survives_a_dead_worker(wf, tmp_path):
    """`executor: processes` (a forkserver pool): the same placement promise as htex, and
    a worker that dies mid-task costs a retry, not the run."""
    from conftest import FIXTURES

    site = str(FIXTURES / "sites/laptop-processes.yaml")
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "placement.yaml"), "--site", site, "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    audit(run_dir, len(os.sched_getaffinity(0)))
    (tmp_path / "dies.yaml").write_text(
        "apiVersion: orchestrator/v1\nname: dies\nstages:\n"
        f"  once:\n    python: dies_once:work\n    args: {{marker: '{tmp_path / 'flag'}'}}\n")
    (tmp_path / "dies_once.py").write_text((wf / "dies_once.py").read_text())
    p = orch("run", str(tmp_path / "dies.yaml"), "--site", site, "--run-dir",
             str(tmp_path / "run2"), "-q")
    assert p.returncode == 0, p.stderr
    assert results(tmp_path / "run2")["once"]["ok"] is True
    assert (tmp_path / "flag").read_text() == "died once"


def test_a_threads_pool_pins_each_task_thread_to_its_own_core(wf, tmp_path):
    """`executor: threads`: tasks run in the driver's threads, each bound to its own core."""
    node = len(os.sched_getaffinity(0))
    site = tmp_path / "threads.yaml"
    site.write_text("apiVersion: orchestrator/v1\nkind: site\nname: threads\n"
                    "scheduler: local\npools:\n  cpu:\n    device: cpu\n"
                    f"    cores_per_node: {node}\n    executor: threads\n")
    run_dir = tmp_path / "run"
    p = orch("run", str(wf / "uniform.yaml"), "--site", str(site), "--run-dir", str(run_dir))
    assert p.returncode == 0, p.stderr
    figures = audit(run_dir, node, in_process=True)
    assert figures["tasks"] == 6, figures
    if node >= 2:
        assert figures["overlapping_starts"] >= 2, figures
