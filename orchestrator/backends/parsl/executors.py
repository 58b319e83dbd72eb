"""Site pools become Parsl executors: HighThroughputExecutor with a Local or Slurm provider."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider, SlurmProvider

from orchestrator.plan.bind import unit_names
from orchestrator.plan.model import Plan
from orchestrator.plan.scripts import slurm_directives, worker_init
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
    """Workers use this interpreter's environment (bin/ on PATH) whatever the login shell says."""
    venv_bin = str(Path(sys.executable).parent)
    lines = [f'export PATH="{venv_bin}:$PATH"']
    init = worker_init(site, pool)
    if init:
        lines.append(init)
    return "\n".join(lines)


def make_executor(site: Site, name: str, run_dir: Path) -> HighThroughputExecutor:
    pool = site.pools[name]
    accel = accelerators(pool)
    common = dict(
        label=name,
        max_workers_per_node=workers_per_node(pool) if not accel else len(accel),
        available_accelerators=accel,
        worker_logdir_root=str(run_dir / "parsl" / "workers"),
        heartbeat_period=5,
        heartbeat_threshold=30,
        poll_period=10,
    )
    if site.scheduler == "local":
        provider = LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1,
                                 worker_init=_bootstrap_init(site, pool))
        return HighThroughputExecutor(address="127.0.0.1", loopback_address="127.0.0.1",
                                      provider=provider, cores_per_worker=1, **common)
    provider = SlurmProvider(
        partition=None,  # every option comes from slurm_directives (one source with `orch plan`)
        scheduler_options="\n".join(slurm_directives(site, name)),
        exclusive=False,
        nodes_per_block=pool.nodes_per_block,
        init_blocks=pool.init_blocks,
        min_blocks=pool.min_blocks,
        max_blocks=pool.max_blocks,
        walltime=format_walltime(parse_walltime(pool.walltime)),
        worker_init=_bootstrap_init(site, pool),
        cmd_timeout=site.slurm.cmd_timeout,
    )
    return HighThroughputExecutor(provider=provider, cores_per_worker=1, **common)


def make_executors(plan: Plan, site: Site, run_dir: Path) -> list[HighThroughputExecutor]:
    """One executor per pool the plan uses."""
    used = sorted({s.binding.pool for s in plan.stages.values()})
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return [make_executor(site, name, run_dir) for name in used]
