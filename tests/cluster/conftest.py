"""Cluster tests: real jobs on the local Slurm cluster and real MPI runs.

Tests marked `slurm` need the cluster of scripts/local-slurm.sh up (node idle, mixed or
allocated); tests marked `mpi` need mpiexec and mpi4py (scripts/install-mpi.sh). When one is
missing the test is skipped, except with CI=true, where it fails: CI must run them for real.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from needs import in_ci, require  # noqa: F401 (re-exported for the tests here)

USABLE_NODE_STATES = {"idle", "mix", "alloc"}
TERMINAL_JOB_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                       "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}




def host() -> str:
    return socket.gethostname().split(".")[0]


# ---------------------------------------------------------------- Slurm


@functools.cache
def slurm_problem() -> str | None:
    """Why the local Slurm cluster cannot run jobs, or None when it can."""
    for cmd in ("sinfo", "sbatch", "srun", "squeue", "scontrol"):
        if shutil.which(cmd) is None:
            return f"Slurm is not installed (no {cmd}); run `scripts/local-slurm.sh up` as root"
    try:
        proc = subprocess.run(["sinfo", "-h", "-N", "-n", host(), "-o", "%t"],
                              capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out; is slurmctld running? (`scripts/local-slurm.sh status`)"
    state = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    if proc.returncode != 0 or state not in USABLE_NODE_STATES:
        detail = (proc.stderr.strip() or f"node {host()} is {state or 'unknown'}")[:300]
        return f"local Slurm node not up ({detail}); run `scripts/local-slurm.sh up` as root"
    return None


@dataclass
class Slurm:
    """Submit and wait for jobs; every job submitted is cancelled at teardown."""

    workdir: Path
    jobs: list[str] = field(default_factory=list)

    def sbatch(self, *args: str, wrap: str, env: dict[str, str] | None = None) -> str:
        """Submit `wrap` as a batch job (small: 2 minutes, 256 MiB); return its id."""
        proc = subprocess.run(
            ["sbatch", "--parsable", "--job-name=orch-smoke", "--time=2", "--mem=256M",
             f"--chdir={self.workdir}", *args, "--wrap", wrap],
            capture_output=True, text=True, timeout=30, env=env)
        assert proc.returncode == 0, proc.stderr
        job_id = proc.stdout.strip().split(";")[0]
        self.jobs.append(job_id)
        return job_id

    def wait(self, job_id: str, timeout: float = 40) -> str:
        """Wait until the job ends; return its final state."""
        deadline = time.monotonic() + timeout
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            proc = subprocess.run(["scontrol", "-o", "show", "job", job_id],
                                  capture_output=True, text=True, timeout=15)
            m = re.search(r"\bJobState=(\w+)", proc.stdout)
            state = m.group(1) if m else state
            if state in TERMINAL_JOB_STATES:
                return state
            time.sleep(0.25)
        pytest.fail(f"job {job_id} still {state} after {timeout:.0f}s", pytrace=False)

    def srun(self, *args: str, timeout: float = 40,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a job step synchronously (in a job of its own)."""
        return subprocess.run(["srun", "--job-name=orch-smoke", "--time=2", "--mem=256M", *args],
                              capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir, env=env)

    def cancel_all(self) -> None:
        if self.jobs:
            subprocess.run(["scancel", *self.jobs], capture_output=True, timeout=15)


@pytest.fixture
def slurm(tmp_path) -> Slurm:
    require(slurm_problem())
    s = Slurm(tmp_path)
    yield s
    s.cancel_all()


# ---------------------------------------------------------------- MPI


@dataclass(frozen=True)
class MPI:
    mpiexec: str
    python: str
    flavour: str  # "mpich", "openmpi" or "other"

    def command(self, ranks: int, *argv: str) -> list[str]:
        """`mpiexec -n RANKS python ARGV...`, with what Open MPI needs to oversubscribe."""
        extra = ["--oversubscribe"] if self.flavour == "openmpi" else []
        return [self.mpiexec, "-n", str(ranks), *extra, self.python, *argv]

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.flavour == "openmpi":  # refuses to run as root without these
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return env


def find_mpiexec() -> str | None:
    """The venv's own mpiexec (pip's mpich) first, then the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@functools.cache
def mpi_runtime() -> MPI | str:
    """The MPI runtime, or why there is none."""
    mpiexec = find_mpiexec()
    if mpiexec is None:
        return "no mpiexec (run scripts/install-mpi.sh)"
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1][:200]
        return f"mpi4py does not import ({last}); run scripts/install-mpi.sh"
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    text = version.stdout + version.stderr
    flavour = ("openmpi" if "Open MPI" in text or "OpenRTE" in text
               else "mpich" if "HYDRA" in text.upper() else "other")
    return MPI(mpiexec, sys.executable, flavour)


def mpi_problem() -> str | None:
    rt = mpi_runtime()
    return rt if isinstance(rt, str) else None


@pytest.fixture
def mpi() -> MPI:
    require(mpi_problem())
    rt = mpi_runtime()
    assert isinstance(rt, MPI)
    return rt
