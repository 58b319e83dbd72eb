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
