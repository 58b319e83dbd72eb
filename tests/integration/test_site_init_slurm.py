"""`orch site init` on the real local Slurm cluster (scripts/local-slurm.sh): the probe's
commands are read-only, so this submits nothing. The file it writes validates, every
shipped workflow plans on it, and the cluster's cpu and gpu partitions, its GRES GPUs and
its `xpu` node feature are all found."""

from __future__ import annotations

import json

import pytest

from .conftest import REPO, orch

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]

WORKFLOWS = sorted((REPO / "workflows").glob("*/workflow.yaml"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("site-init") / "cluster.yaml"
    p = orch("site", "init", "-o", str(out), "--name", "probed")
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stderr and "pools: cpu (cpu), gpu (gpu), xpu (xpu)" in p.stderr
    return out


def test_generated_site_validates_with_the_cluster_found(generated):
    p = orch("validate", str(generated), "--format", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["pools"] == ["cpu", "gpu", "xpu"]
    from orchestrator.site.load import load_site

    site = load_site(generated).site
    cpu, gpu, xpu = (site.pools[n] for n in ("cpu", "gpu", "xpu"))
    assert (cpu.device, cpu.partition) == ("cpu", "cpu")
    assert (gpu.device, gpu.partition, gpu.accelerators_per_node) == ("gpu", "gpu", 4)
    assert (xpu.device, xpu.partition, xpu.constraint) == ("xpu", "cpu", "xpu")
    assert site.scheduler == "slurm" and site.mpi.launcher == "srun"
    assert site.mpi.args == ["--overcommit"]     # OverSubscribe=FORCE:4: more ranks than CPUs
    assert cpu.max_walltime == "04:00:00"        # MaxTime=04:00:00 in scripts/local-slurm.sh


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.parent.name)
def test_shipped_workflow_plans_on_the_generated_site(generated, workflow, tmp_path):
    p = orch("plan", str(workflow), "--site", str(generated), "--format", "json",
             "--scripts", str(tmp_path / "scripts"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["site"] == "probed" and plan["tasks"]
    for script in (tmp_path / "scripts").iterdir():
        assert "#SBATCH --partition=" in script.read_text()


@pytest.mark.mpi
def test_mpi_stages_run_through_srun_on_the_generated_site(generated, tmp_path):
    """The generated `mpi: {launcher: srun, args: [--overcommit]}` starts real MPI jobs:
    4 ranks in a block of 2 CPUs, and 2 ranks, each a COMM_WORLD of the asked size."""
    from .conftest import WF, results, wait_no_processes

    run_dir = tmp_path / "run"
    p = orch("run", str(WF / "mpi.yaml"), "--site", str(generated), "--run-dir", str(run_dir),
             "-q", timeout=280)
    assert p.returncode == 0, p.stderr
    ring = results(run_dir)["ring"]
    assert ring["size"] == 4 and ring["sum"] == 0 + 1 + 2 + 3
    ranks = sorted(f.read_text() for f in (run_dir / "tasks" / "hello").glob("rank-*.txt"))
    assert ranks == ["0 2", "1 2"]
    assert not wait_no_processes(str(run_dir))
