"""Two Slurm nodes on one machine (scripts/local-slurm.sh, multiple-slurmd mode): jobs that
span both nodes, and MPI ranks placed on two different nodes (about 3 s)."""

from __future__ import annotations

import subprocess
import textwrap
import time

import pytest

from .conftest import MPI, Slurm, require

pytestmark = pytest.mark.slurm


def _nodes(wait: float = 60.0) -> list[str]:
    """The usable nodes of partition cpu; a node still completing the previous test's job
    (`comp`) counts, and a moment of fewer than 2 is waited out (up to `wait` s)."""
    deadline = time.monotonic() + wait
    while True:
        proc = subprocess.run(["sinfo", "-h", "-N", "-p", "cpu", "-o", "%N %t"],
                              capture_output=True, text=True, timeout=15)
        nodes = sorted({line.split()[0] for line in proc.stdout.splitlines()
                        if len(line.split()) == 2
                        and line.split()[1].rstrip("*~#!%$@^-+") in ("idle", "mix", "alloc",
                                                                       "comp")})
        if len(nodes) >= 2 or time.monotonic() > deadline:
            return nodes
        time.sleep(1.0)


@pytest.fixture
def two_nodes(slurm: Slurm) -> list[str]:
    nodes = _nodes()
    require(None if len(nodes) >= 2 else
            f"the local cluster has {len(nodes)} usable node(s) in partition cpu, these tests "
            "need 2: run `scripts/local-slurm.sh up` (LOCAL_SLURM_NODES=2, the default)")
    return nodes


def test_job_spans_two_nodes(slurm: Slurm, two_nodes: list[str]):
    proc = slurm.srun("--nodes=2", "--ntasks-per-node=1", "bash", "-c",
                      "echo $SLURM_NODEID $SLURMD_NODENAME")
    assert proc.returncode == 0, proc.stderr
    seen = dict(line.split() for line in proc.stdout.splitlines())
    assert sorted(seen) == ["0", "1"]
    assert len(set(seen.values())) == 2 and set(seen.values()) <= set(two_nodes)


def test_two_node_batch_job_runs_a_step_on_each_node(slurm: Slurm, two_nodes: list[str]):
    job = slurm.sbatch("--nodes=2", "--output=out.txt",
                       wrap="srun --ntasks-per-node=1 bash -c 'echo $SLURMD_NODENAME'")
    assert slurm.wait(job) == "COMPLETED"
    names = (slurm.workdir / "out.txt").read_text().split()
    assert len(names) == 2 and len(set(names)) == 2


@pytest.mark.mpi
def test_mpi_ranks_on_two_nodes_exchange_data(slurm: Slurm, mpi: MPI, two_nodes: list[str]):
    prog = slurm.workdir / "ranks.py"
    prog.write_text(textwrap.dedent("""\
        import os
        import numpy as np
        from mpi4py import MPI
        c = MPI.COMM_WORLD
        out, got = np.full(1000, c.rank, "d"), np.empty(1000, "d")
        c.Sendrecv(out, dest=(c.rank + 1) % c.size, recvbuf=got, source=(c.rank - 1) % c.size)
        names = c.allgather(os.environ["SLURMD_NODENAME"])
        if c.rank == 0:
            print(c.size, int(got[0]), *names)
    """))
    proc = slurm.srun("--mpi=pmi2", "--nodes=2", "--ntasks=2", mpi.python, str(prog),
                      env=mpi.env)
    assert proc.returncode == 0, proc.stderr
    size, got, *names = proc.stdout.split()
    assert (size, got) == ("2", "1")  # rank 0 received rank 1's buffer
    assert len(set(names)) == 2 and set(names) <= set(two_nodes), names
