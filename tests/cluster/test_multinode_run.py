"""`orch run` over two Slurm nodes (scripts/local-slurm.sh): a pilot block of two nodes runs
a worker pool on each and packs tasks of several shapes on both, each node within its cores;
an MPI stage with `nodes: 2` gets its ranks on two nodes (about 40 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from orchestrator.state.results import results_by_task

from .test_multinode import two_nodes  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
WF = REPO / "tests" / "integration" / "wf"

WORKFLOW = """\
apiVersion: orchestrator/v1
name: two-nodes
stages:
  one:
    python: placement:probe
    args: {seconds: 1.0}
    sweep: {values: {k: [0, 1, 2, 3, 4, 5]}}
    resources: {cores: 1}
  two:
    python: placement:probe
    args: {seconds: 1.0}
    sweep: {values: {k: [0, 1, 2, 3]}}
    resources: {cores: 2}
  ranks:
    shell: >-
      python -c 'from mpi4py import MPI; import os; c = MPI.COMM_WORLD;
      v = c.allreduce(c.Get_rank() + 1);
      open("rank-%d.txt" % c.Get_rank(), "w").write(
      "%d %d %s" % (c.Get_size(), v, os.environ["SLURMD_NODENAME"]))'
    outputs: [rank-0.txt, rank-1.txt]
    resources: {ranks: 2, nodes: 2}
"""


def _site(tmp_path: Path) -> Path:
    text = (REPO / "site-configs" / "local-slurm.yaml").read_text()
    assert "nodes_per_block: 1" in text
    site = tmp_path / "two-node-site.yaml"
    site.write_text(text.replace("nodes_per_block: 1", "nodes_per_block: 2"))
    return site


def _orch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True,
                          text=True, timeout=500, cwd=REPO)


def test_a_two_node_block_packs_tasks_on_both_nodes_and_mpi_spans_them(
        tmp_path, two_nodes):  # noqa: F811
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "workflow.yaml").write_text(WORKFLOW)
    (wf / "placement.py").write_text((WF / "placement.py").read_text())
    site, run_dir = _site(tmp_path), tmp_path / "run"
    plan = _orch("plan", str(wf / "workflow.yaml"), "--site", str(site), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    cores = {s["name"]: s["resources"]["cores"] for s in json.loads(plan.stdout)["stages"]}
    assert cores["one"] == 1 and cores["two"] == 2, cores
    p = _orch("run", str(wf / "workflow.yaml"), "--site", str(site), "--run-dir",
              str(run_dir), "-q")
    assert p.returncode == 0, p.stderr

    # the block is one Slurm job over two nodes, with a worker pool on each
    jobs = json.loads((run_dir / "slurm-jobs.json").read_text())
    probes = [r["result"] for r in results_by_task(run_dir).values()
              if isinstance(r.get("result"), dict) and "cpus" in r["result"]]
    assert len(probes) == 10, probes
    nodes = {r["env"].get("SLURMD_NODENAME") for r in probes}
    assert nodes == set(two_nodes[:2]) or len(nodes) == 2, nodes
    assert {r["env"]["SLURM_JOB_ID"] for r in probes} <= set(map(str, jobs))
    assert len({r["env"]["SLURM_JOB_ID"] for r in probes}) == 1  # one block: one job

    # packing: each task had the cores the plan gave it; no node ran more than its 2 cores
    for r in probes:
        assert len(r["cpus"]) == cores[r["task"].split("[")[0]], r
    by_node = defaultdict(list)
    for r in probes:
        by_node[r["env"]["SLURMD_NODENAME"]].append(r)
    for node, tasks in by_node.items():
        for t in tasks:  # cores in use on this node at each task's start
            busy = sum(len(o["cpus"]) for o in tasks if o["start"] <= t["start"] < o["end"])
            assert busy <= 2, (node, t["task"], busy)
    both = {n for n, tasks in by_node.items() if any(t["task"].startswith("two[") for t in tasks)}
    assert len(by_node) == 2 and both, dict(by_node)

    # MPI: two ranks, one on each node, in one communicator
    ranks = sorted((run_dir / "tasks" / "ranks").glob("rank-*.txt"))
    seen = [f.read_text().split() for f in ranks]
    assert [s[:2] for s in seen] == [["2", "3"], ["2", "3"]], seen
    assert len({s[2] for s in seen}) == 2, seen
