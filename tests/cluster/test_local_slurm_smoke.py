"""Smoke tests of the local cluster itself: real Slurm jobs and real MPI runs.

They prove what the orchestrator's Slurm and MPI backends rely on: partitions cpu (default)
and gpu, one GRES GPU per `--gres=gpu:1` job, the `xpu` node feature, multi-task steps, and
mpi4py with 2 and 4 ranks (more ranks than the 2 cores of CI), alone and inside a Slurm job.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap

import pytest

from .conftest import MPI, Slurm, host

RING = textwrap.dedent("""
    import json

    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    send = np.full(8, rank, dtype="f8")
    recv = np.empty(8, dtype="f8")
    comm.Sendrecv(send, dest=(rank + 1) % size, recvbuf=recv, source=(rank - 1) % size)
    ranks = comm.gather(rank)
    received = comm.gather(int(recv[0]))
    total = comm.allreduce(rank, op=MPI.SUM)
    if rank == 0:
        print(json.dumps({"size": size, "ranks": ranks, "received": received, "sum": total}))
""")


def ring_result(stdout: str) -> dict:
    """The JSON line rank 0 printed (other output may surround it)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    assert lines, stdout
    return json.loads(lines[-1])


def assert_ring(res: dict, n: int) -> None:
    assert res["size"] == n
    assert res["ranks"] == list(range(n))
    assert res["received"] == [(r - 1) % n for r in range(n)]  # each got its left neighbour's
    assert res["sum"] == n * (n - 1) // 2


def env_of(stdout: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in stdout.splitlines() if "=" in ln)


# ---------------------------------------------------------------- Slurm


@pytest.mark.slurm
def test_batch_job_runs_in_default_cpu_partition(slurm: Slurm):
    job = slurm.sbatch("--output=out.txt",
                       wrap='echo "partition=$SLURM_JOB_PARTITION node=$SLURMD_NODENAME"')
    assert slurm.wait(job) == "COMPLETED"
    out = (slurm.workdir / "out.txt").read_text()
    assert f"partition=cpu node={host()}" in out


@pytest.mark.slurm
@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_gpu_job_sees_its_gres_gpus(slurm: Slurm, gpus: int):
    proc = slurm.srun("--partition=gpu", f"--gres=gpu:{gpus}", "env")
    assert proc.returncode == 0, proc.stderr
    visible = env_of(proc.stdout)["CUDA_VISIBLE_DEVICES"].split(",")
    assert len(visible) == gpus
    assert set(visible) <= {"0", "1", "2", "3"}


@pytest.mark.slurm
def test_gpu_batch_job_sees_one_gpu(slurm: Slurm):
    job = slurm.sbatch("--partition=gpu", "--gres=gpu:1", "--output=out.txt",
                       wrap='echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"')
    assert slurm.wait(job) == "COMPLETED"
    assert env_of((slurm.workdir / "out.txt").read_text())["CUDA_VISIBLE_DEVICES"] in ("0", "1", "2", "3")


@pytest.mark.slurm
def test_more_gpus_than_the_node_has_is_rejected(slurm: Slurm):
    proc = slurm.srun("--partition=gpu", "--gres=gpu:5", "true")
    assert proc.returncode != 0
    assert "configuration is not available" in proc.stderr


@pytest.mark.slurm
def test_constraint_xpu_selects_the_node(slurm: Slurm):
    proc = slurm.srun("--partition=cpu", "--constraint=xpu", "hostname", "-s")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == host()
    bad = slurm.srun("--constraint=no-such-feature", "true")
    assert bad.returncode != 0
    assert "Invalid feature specification" in bad.stderr


@pytest.mark.slurm
def test_two_task_step(slurm: Slurm):
    proc = slurm.srun("--ntasks=2", "bash", "-c", 'echo "$SLURM_PROCID/$SLURM_NTASKS"')
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0/2", "1/2"]


# ---------------------------------------------------------------- MPI


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 4])
def test_mpiexec_runs_mpi4py_ranks(mpi: MPI, tmp_path, ranks: int):
    script = tmp_path / "ring.py"
    script.write_text(RING)
    proc = subprocess.run(mpi.command(ranks, str(script)), capture_output=True, text=True,
                          timeout=60, env=mpi.env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_ring(ring_result(proc.stdout), ranks)


@pytest.mark.slurm
@pytest.mark.mpi
def test_mpiexec_inside_a_slurm_allocation(slurm: Slurm, mpi: MPI):
    (slurm.workdir / "ring.py").write_text(RING)
    cmd = shlex.join(mpi.command(2, "ring.py"))
    job = slurm.sbatch("--ntasks=2", "--output=out.txt", "--error=err.txt", wrap=cmd,
                       env=mpi.env)
    state = slurm.wait(job)
    err = (slurm.workdir / "err.txt").read_text()
    assert state == "COMPLETED", err
    assert_ring(ring_result((slurm.workdir / "out.txt").read_text()), 2)


@pytest.mark.slurm
@pytest.mark.mpi
def test_srun_launches_mpi_ranks(slurm: Slurm, mpi: MPI):
    """srun as the MPI launcher: PMI-2 for MPICH (the cluster's MpiDefault), PMIx for Open MPI."""
    (slurm.workdir / "ring.py").write_text(RING)
    plugin = "pmix" if mpi.flavour == "openmpi" else "pmi2"
    proc = slurm.srun(f"--mpi={plugin}", "--ntasks=2", mpi.python, "ring.py", env=mpi.env)
    assert proc.returncode == 0, proc.stderr
    assert_ring(ring_result(proc.stdout), 2)
