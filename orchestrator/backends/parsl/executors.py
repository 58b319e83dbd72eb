"""Site pools become Parsl executors: HighThroughputExecutor with the site scheduler's
provider (orchestrator/schedulers/: Local, Slurm, PBS Pro), or a ThreadPoolExecutor for a
local pool with `executor: threads`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from parsl.executors import HighThroughputExecutor, MPIExecutor, ThreadPoolExecutor
from parsl.jobs.error_handlers import windowed_error_handler

from orchestrator import schedulers
from orchestrator.backends.admission import Admission, placement_modes, stage_shape
from orchestrator.backends.parsl.gated import (
    GatedHighThroughputExecutor,
    GatedMPIExecutor,
    GatedProcessPoolExecutor,
    GatedThreadPoolExecutor,
    Starter,
    _Gated,
)
from orchestrator.backends.parsl.process_worker_pool import LAUNCH_CMD
from orchestrator.backends.parsl.providers import build as build_provider
from orchestrator.backends.placement import node_cpus, node_memory
from orchestrator.plan.model import Plan
from orchestrator.plan.scripts import environment_init, python_bin, worker_init
from orchestrator.site.load import pool_cores
from orchestrator.site.models import Pool, Site
from orchestrator.units import parse_memory


def workers_per_node(pool: Pool, shapes: list[tuple[int | None, int]] | None = None) -> int:
    """Worker processes per node: as many tasks as the pool's smallest task shapes could run
    side by side. Workers are only slots: which tasks actually run at once, and on which
    cores and devices, is decided per task on the node (backends/placement.py), so a task
    never takes more than the plan gave it. `shapes`: (cores, units) of the pool's stages."""
    if pool.workers_per_node:
        return pool.workers_per_node
    cores = max(1, pool_cores(pool))
    if not shapes:
        return max(1, pool.units_per_node) if pool.device != "cpu" else cores
    min_cores = min((c if c is not None else cores) for c, _ in shapes)
    limit = cores // max(1, min_cores)
    if all(u > 0 for _, u in shapes):
        limit = min(limit, pool.units_per_node // min(u for _, u in shapes))
    return max(1, limit)


def pool_shapes(plan: Plan, pool: str) -> list[tuple[int | None, int]]:
    """(cores, accelerator units) per task of each single-rank stage bound to `pool`."""
    out = []
    for stage in plan.stages.values():
        if stage.binding.pool == pool and stage.resources["ranks"] == 1:
            cores = stage.resources["cores"]
            out.append((cores if isinstance(cores, int) else None,
                        stage.binding.units_per_task))
    return out


def init_env(site: Site, pool: Pool) -> dict[str, str]:
    """What a local process pool's workers need in their environment before they start:
    the oneAPI runtime's variables and the site's `env` (htex workers get the same through
    their worker_init)."""
    from orchestrator.library.sycl_env import sycl_env

    return {**sycl_env(), **site.env}


def _bootstrap_init(site: Site, pool: Pool, environments: str = "") -> str:
    """Workers use this interpreter's environment whatever the login shell says."""
    return worker_init(site, pool, python_bin(), environments)


def _heartbeats(site: Site) -> dict[str, int]:
    """A lost block (scancel, walltime, node failure) is noticed within ~20 s and its tasks
    are retried on another block."""
    period, threshold = schedulers.get(site.scheduler).capabilities.heartbeat
    return {"heartbeat_period": period, "heartbeat_threshold": threshold}


def _on_this_machine(site: Site) -> bool:
    """Workers on the machine that runs orch (no batch system): they share its admission
    and reach the interchange on the loopback address."""
    return not schedulers.get(site.scheduler).capabilities.batch


def _lost_blocks(executor, status) -> None:
    """A block that died (a killed worker pool, a node failure) is replaced by the strategy;
    only when the last 3 blocks all failed (a broken worker_init, say) do its tasks fail.
    Parsl's default fails every task as soon as the blocks it started have all failed."""
    windowed_error_handler(executor, status, threshold=3)


def admissions(site: Site, labels: list[str], allocation: bool = False
               ) -> dict[str, Admission]:
    """The admission each executor's tasks go through: one for the whole machine on a local
    site (its pools share it), one for the driver's allocation (`orch submit`: its pools'
    blocks share its nodes), one per executor otherwise (each its own batch jobs)."""
    if _on_this_machine(site):
        shared = Admission(1, None, node_memory(), cpus=node_cpus())
        return {label: shared for label in labels}
    if allocation:
        pools = [site.pools[name.removesuffix(MPI_SUFFIX)] for name in labels]
        pool = max(pools, key=lambda p: p.nodes_per_block)
        memory = (parse_memory(pool.memory_per_node)
                  if pool.memory_per_node not in (None, "auto") else None)
        cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else None
        shared = Admission(pool.nodes_per_block, cores, memory)
        return {label: shared for label in labels}
    out = {}
    for name in labels:
        pool = site.pools[name.removesuffix(MPI_SUFFIX)]
        memory = (parse_memory(pool.memory_per_node)
                  if pool.memory_per_node not in (None, "auto") else None)
        cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else None
        out[name] = Admission(pool.max_blocks * pool.nodes_per_block, cores, memory)
    return out


def _provider(site: Site, name: str, init: str, run_dir: Path, mpi: bool, allocation: bool):
    """The scheduler's provider of a pool's blocks: batch jobs of their own, or (inside the
    driver's allocation, `orch submit`) job steps of that allocation."""
    scheduler = schedulers.get(site.scheduler)
    if allocation:
        spec = scheduler.allocation_provider(site, name, init, mpi=mpi)
        if spec is None:
            raise RuntimeError(f"{scheduler.capabilities.label} has no allocations to run in")
    else:
        spec = scheduler.provider(site, name, init, mpi=mpi, run_dir=run_dir)
    return build_provider(spec)


def make_executor(site: Site, name: str, run_dir: Path,
                  shapes: list[tuple[int | None, int]] | None = None, environments: str = "",
                  allocation: bool = False) -> HighThroughputExecutor | ThreadPoolExecutor:
    pool = site.pools[name]
    if pool.executor == "threads":
        return GatedThreadPoolExecutor(label=name, max_threads=workers_per_node(pool, shapes))
    if pool.executor == "processes":
        return GatedProcessPoolExecutor(name, workers_per_node(pool, shapes),
                                        env=init_env(site, pool))
    common = dict(
        label=name,
        max_workers_per_node=workers_per_node(pool, shapes),
        worker_logdir_root=str(run_dir / "parsl" / "workers"),
        **_heartbeats(site), block_error_handler=_lost_blocks,
        poll_period=10, launch_cmd=LAUNCH_CMD,
    )
    # the scheduler's provider: its directives are the ones `orch plan --scripts` writes
    provider = _provider(site, name, _bootstrap_init(site, pool, environments), run_dir,
                         False, allocation)
    return GatedHighThroughputExecutor(provider=provider, cores_per_worker=1,
                                       **_address(site), **common)


def _address(site: Site) -> dict[str, str]:
    return ({"address": "127.0.0.1", "loopback_address": "127.0.0.1"}
            if _on_this_machine(site) else {})


MPI_SUFFIX = ".mpi"


def executor_label(pool: str, ranks: int) -> str:
    """Multi-rank tasks go to the pool's MPI-mode executor."""
    return f"{pool}{MPI_SUFFIX}" if ranks > 1 else pool


def make_mpi_executor(site: Site, name: str, run_dir: Path, environments: str = "",
                      allocation: bool = False) -> MPIExecutor:
    """Parsl's MPI mode: one worker pool per block that launches multi-rank tasks with the
    site's launcher (mpiexec or srun), composing `$PARSL_MPI_PREFIX` per task."""
    pool = site.pools[name]
    init = _bootstrap_init(site, pool, environments)
    provider = _provider(site, name, init, run_dir, True, allocation)
    address = _address(site)
    launcher = site.mpi.launcher if site.mpi.launcher in ("mpiexec", "srun") else "mpiexec"
    return GatedMPIExecutor(label=f"{name}{MPI_SUFFIX}", provider=provider,
                       mpi_launcher=launcher,
                       max_workers_per_block=pool.nodes_per_block, encrypted=True,
                       **_heartbeats(site), block_error_handler=_lost_blocks, poll_period=10,
                       launch_cmd=LAUNCH_CMD,
                       worker_logdir_root=str(run_dir / "parsl" / "workers"), **address)


def make_executors(plan: Plan, site: Site, run_dir: Path, starter: Starter | None = None,
                   allocation: bool = False) -> list[HighThroughputExecutor]:
    """One executor per pool the plan uses, plus an MPI-mode one where multi-rank stages run.
    With a `starter`, single-rank tasks start only when their node share is free.
    `allocation`: the driver runs inside its own batch job (`orch submit`), whose nodes
    the blocks run on."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    labels = sorted({executor_label(s.binding.pool, s.resources["ranks"])
                     for s in plan.stages.values()})
    out: list[HighThroughputExecutor] = []
    for label in labels:
        pool = label.removesuffix(MPI_SUFFIX)
        env_init = environment_init(plan, pool)  # what `orch plan --scripts` shows
        if label.endswith(MPI_SUFFIX):
            out.append(make_mpi_executor(site, pool, run_dir, env_init, allocation))
        else:
            out.append(make_executor(site, label, run_dir, pool_shapes(plan, label), env_init,
                                     allocation))
    if starter is not None:
        _gate(plan, site, [ex for ex in out if isinstance(ex, _Gated)], starter, allocation)
    return out


def _gate(plan: Plan, site: Site, gated: list, starter: Starter, allocation: bool = False
          ) -> None:
    """Give each executor its admission and placement mode (admission.placement_modes)."""
    labels = [ex.label for ex in gated]
    gates = admissions(site, labels, allocation)
    shapes: dict[str, set[tuple]] = {label: set() for label in labels}
    for s in plan.stages.values():
        label = executor_label(s.binding.pool, s.resources["ranks"])
        if label in shapes:
            shapes[label].add(stage_shape(s.resources["cores"] if s.resources["ranks"] == 1
                                          else ("mpi", s.resources["cores"]),
                                          s.binding.units_per_task, s.resources["memory"]))
    scopes: dict[str, list[str]] = {}
    for label in labels:
        scope = "local" if _on_this_machine(site) else "allocation" if allocation else label
        scopes.setdefault(scope, []).append(label)
    threads = {ex.label for ex in gated if isinstance(ex, GatedProcessPoolExecutor)}
    modes = placement_modes(scopes, shapes, exact=_on_this_machine(site), unpinned=threads)
    for ex in gated:
        ex.admission, ex.starter, ex.mode = gates[ex.label], starter, modes[ex.label]
        if ex.mode == "pinned" and isinstance(ex, HighThroughputExecutor) and \
                not isinstance(ex, MPIExecutor):
            ex.cpu_affinity = "block"  # Parsl pins each worker to its own cores; its tasks
            # take their share with no per-task resource spec (task_binding.parsl_pinned)
        # (a threads pool pins each task thread itself: task_binding._thread_block)
