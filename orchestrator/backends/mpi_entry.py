"""Entry point of each MPI rank of a python stage with `ranks > 1`.

Launched as `$PARSL_MPI_PREFIX python -m orchestrator.backends.mpi_entry PAYLOAD`
by the worker (Parsl's MPI mode composes the prefix: mpiexec or srun). Each rank
pins itself to its share of the task's accelerators, imports the callable and
calls it; rank 0 writes the return value for the worker to pick up. User code
gets `MPI.COMM_WORLD` of the requested size from mpi4py as usual.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK",
                   "PMI_LOCAL_RANK", "PALS_LOCAL_RANKID")
RANK_VARS = ("PMI_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PALS_RANKID")


def _env_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return None


def pin_rank_devices(local_rank: int) -> None:
    """Give this rank one of the task's accelerator units (round robin by local rank)."""
    units = [u for u in os.environ.get("ORCH_RANK_UNITS", "").split(",") if u]
    var = os.environ.get("ORCH_RANK_UNITS_VAR")
    if units and var:
        os.environ[var] = units[local_rank % len(units)]


THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "CL_CONFIG_CPU_TBB_NUM_WORKERS",
               "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(cores: int) -> None:
    """Each rank gets the `cores` it asked for: threaded runtimes (OpenMP, numba, the
    OpenCL CPU device) otherwise start one thread per core in every rank."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, cores)))


def load_payload(payload_path: str) -> dict:
    """The payload the worker wrote, with thread limits set and the spec's directory
    importable (shared with env_entry: a python stage run by another interpreter)."""
    payload = json.loads(Path(payload_path).read_text())
    limit_threads(int(payload.get("cores", 1)))
    if payload.get("base_dir"):
        sys.path.insert(0, payload["base_dir"])
    return payload


def call_stage(payload: dict, rank: int, size: int):
    """Call the stage's function as rank `rank` of `size`."""
    from orchestrator.backends.worker import call_target  # no Parsl import there

    payload.setdefault("context", {})["rank"] = rank
    payload["context"]["size"] = size
    return call_target(payload, payload.get("results", {}), payload.get("feedback", {}),
                       Path.cwd())


def write_result(payload_path: str, value, size: int) -> None:
    """Where the worker picks the return value up (written atomically)."""
    tmp = Path(payload_path).with_suffix(".result.tmp")
    tmp.write_text(json.dumps({"result": value, "size": size}))
    os.replace(tmp, Path(payload_path).with_suffix(".result.json"))


def main(payload_path: str) -> int:
    payload = load_payload(payload_path)
    rank = _env_int(RANK_VARS)
    local_rank = _env_int(LOCAL_RANK_VARS)
    pin_rank_devices(local_rank or 0)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank() if rank is None else rank
    value = call_stage(payload, rank, comm.Get_size())
    if comm.Get_rank() == 0:
        write_result(payload_path, value, comm.Get_size())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
