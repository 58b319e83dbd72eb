"""Site pools become Parsl executors: HighThroughputExecutor with a Local or Slurm provider,
or a ThreadPoolExecutor for a local pool with `executor: threads`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from parsl.executors import HighThroughputExecutor, MPIExecutor, ThreadPoolExecutor
from parsl.jobs.error_handlers import windowed_error_handler
from parsl.launchers import SimpleLauncher
from parsl.providers import LocalProvider, SlurmProvider

from orchestrator.plan.bind import unit_names
from orchestrator.plan.model import Plan
from orchestrator.plan.scripts import python_bin, slurm_directives, worker_init
from orchestrator.site.load import pool_cores
from orchestrator.site.models import Pool, Site
from orchestrator.units import format_walltime, parse_walltime


def workers_per_node(pool: Pool) -> int:
    if pool.workers_per_node:
        return pool.workers_per_node
    if pool.device != "cpu":
        return max(1, pool.units_per_node)
    return max(1, pool_cores(pool))


def accelerators(pool: Pool) -> list[str]:
    """Units Parsl pins one per worker (CUDA_VISIBLE_DEVICES / ZE_AFFINITY_MASK)."""
    if pool.device == "cpu" or pool.accel_backend not in ("cuda", "level_zero"):
        return []
    return unit_names(pool)


def _bootstrap_init(site: Site, pool: Pool) -> str:
    """Workers use this interpreter's environment whatever the login shell says."""
    return worker_init(site, pool, python_bin())


def _heartbeats(site: Site) -> dict[str, int]:
    """A lost block (scancel, walltime, node failure) is noticed within ~20 s and its tasks
    are retried on another block."""
    if site.scheduler == "local":
        return {"heartbeat_period": 2, "heartbeat_threshold": 10}
    return {"heartbeat_period": 5, "heartbeat_threshold": 20}


def _lost_blocks(executor, status) -> None:
    """A block that died (a killed worker pool, a node failure) is replaced by the strategy;
    only when the last 3 blocks all failed (a broken worker_init, say) do its tasks fail.
    Parsl's default fails every task as soon as the blocks it started have all failed."""
    windowed_error_handler(executor, status, threshold=3)


def make_executor(site: Site, name: str, run_dir: Path
                  ) -> HighThroughputExecutor | ThreadPoolExecutor:
    pool = site.pools[name]
    if pool.executor == "threads":
        return ThreadPoolExecutor(label=name, max_threads=workers_per_node(pool))
    accel = accelerators(pool)
    common = dict(
        label=name,
        max_workers_per_node=workers_per_node(pool) if not accel else len(accel),
        available_accelerators=accel,
        worker_logdir_root=str(run_dir / "parsl" / "workers"),
        **_heartbeats(site), block_error_handler=_lost_blocks,
        poll_period=10,
    )
    if site.scheduler == "local":
        provider = LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1,
                                 worker_init=_bootstrap_init(site, pool))
        return HighThroughputExecutor(address="127.0.0.1", loopback_address="127.0.0.1",
                                      provider=provider, cores_per_worker=1, **common)
    provider = _slurm_provider(site, name, _bootstrap_init(site, pool))
    return HighThroughputExecutor(provider=provider, cores_per_worker=1, **common)


def _slurm_provider(site: Site, name: str, init: str, **extra) -> SlurmProvider:
    """A pool's blocks as Slurm jobs; every #SBATCH option comes from slurm_directives,
    the one source `orch plan --scripts` also uses."""
    pool = site.pools[name]
    return SlurmProvider(
        partition=None,
        scheduler_options="\n".join(slurm_directives(site, name)),
        exclusive=False,
        nodes_per_block=pool.nodes_per_block,
        init_blocks=pool.init_blocks,
        min_blocks=pool.min_blocks,
        max_blocks=pool.max_blocks,
        walltime=format_walltime(parse_walltime(pool.walltime)),
        worker_init=init,
        cmd_timeout=site.slurm.cmd_timeout,
        **extra,
    )


MPI_SUFFIX = ".mpi"


def executor_label(pool: str, ranks: int) -> str:
    """Multi-rank tasks go to the pool's MPI-mode executor."""
    return f"{pool}{MPI_SUFFIX}" if ranks > 1 else pool


def make_mpi_executor(site: Site, name: str, run_dir: Path) -> MPIExecutor:
    """Parsl's MPI mode: one worker pool per block that launches multi-rank tasks with the
    site's launcher (mpiexec or srun), composing `$PARSL_MPI_PREFIX` per task."""
    pool = site.pools[name]
    init = _bootstrap_init(site, pool)
    if site.scheduler == "local":
        # Parsl's MPI mode learns its nodes from the batch system; a local site has one.
        nodefile = run_dir / "parsl" / "local-nodefile"
        nodefile.parent.mkdir(parents=True, exist_ok=True)
        nodefile.write_text("localhost\n")
        init += f'\nexport PBS_NODEFILE="{nodefile}"'
        provider = LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1,
                                 launcher=SimpleLauncher(), worker_init=init)
        address = {"address": "127.0.0.1", "loopback_address": "127.0.0.1"}
    else:
        provider = _slurm_provider(site, name, init, launcher=SimpleLauncher())
        address = {}
    launcher = site.mpi.launcher if site.mpi.launcher in ("mpiexec", "srun") else "mpiexec"
    return MPIExecutor(label=f"{name}{MPI_SUFFIX}", provider=provider, mpi_launcher=launcher,
                       max_workers_per_block=pool.nodes_per_block, encrypted=True,
                       **_heartbeats(site), block_error_handler=_lost_blocks, poll_period=10,
                       worker_logdir_root=str(run_dir / "parsl" / "workers"), **address)


def make_executors(plan: Plan, site: Site, run_dir: Path) -> list[HighThroughputExecutor]:
    """One executor per pool the plan uses, plus an MPI-mode one where multi-rank stages run."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    labels = sorted({executor_label(s.binding.pool, s.resources["ranks"])
                     for s in plan.stages.values()})
    out: list[HighThroughputExecutor] = []
    for label in labels:
        if label.endswith(MPI_SUFFIX):
            out.append(make_mpi_executor(site, label[: -len(MPI_SUFFIX)], run_dir))
        else:
            out.append(make_executor(site, label, run_dir))
    return out
