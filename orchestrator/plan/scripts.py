"""Slurm batch scripts for a plan's pools, as Parsl's SlurmProvider submits them.

`slurm_directives` is the single source of the `#SBATCH` options: `orch plan
--scripts` writes them here and the Parsl backend passes the same lines to
SlurmProvider as `scheduler_options`, so what you review is what is submitted.
"""

from __future__ import annotations

import shlex

from orchestrator.plan.model import Plan
from orchestrator.site.models import Pool, Site
from orchestrator.units import format_walltime, parse_memory, parse_walltime

# The layout of parsl/providers/slurm/template.py, filled in the same order.
_TEMPLATE = """#!/bin/bash

#SBATCH --job-name={jobname}
#SBATCH --output={script_dir}/{jobname}.submit.stdout
#SBATCH --error={script_dir}/{jobname}.submit.stderr
#SBATCH --nodes={nodes}
#SBATCH --time={minutes}
#SBATCH --ntasks-per-node=1
{scheduler_options}

{worker_init}

export JOBNAME="{jobname}"

{user_script}
"""


def slurm_directives(site: Site, pool_name: str) -> list[str]:
    """`#SBATCH` lines for one pool (besides nodes, time and ntasks that Parsl writes)."""
    pool = site.pools[pool_name]
    lines = []
    if pool.exclusive:
        lines.append("#SBATCH --exclusive")
    if pool.partition:
        lines.append(f"#SBATCH --partition={pool.partition}")
    account = pool.account or site.slurm.account
    if account:
        lines.append(f"#SBATCH --account={account}")
    qos = pool.qos or site.slurm.qos
    if qos:
        lines.append(f"#SBATCH --qos={qos}")
    if pool.constraint:
        lines.append(f"#SBATCH --constraint={pool.constraint}")
    if isinstance(pool.cores_per_node, int) and not pool.exclusive:
        # the block asks for the cores the plan packs tasks onto (one Parsl manager per node)
        lines.append(f"#SBATCH --cpus-per-task={pool.cores_per_node}")
    gres = pool.gres or (f"gpu:{pool.for_class('gpu').accelerators_per_node}"
                         if "gpu" in pool.devices else None)
    if gres:
        lines.append(f"#SBATCH --gres={gres}")
    if pool.memory_per_node not in (None, "auto"):
        mib = parse_memory(pool.memory_per_node) // (1024 * 1024)
        lines.append(f"#SBATCH --mem={mib}M")
    lines.extend(pool.scheduler_options)
    return lines


def worker_init(site: Site, pool: Pool, python_bin: str | None = None,
                environments: str = "") -> str:
    """Shell lines run before the worker pool starts: this interpreter's bin/ first on PATH
    (workers and `mpiexec` come from the same environment as `orch`), the site's env, the
    pool's own init, then the module lines of its stages' environments
    (`environment_init`)."""
    lines = [f'export PATH="{python_bin}:$PATH"'] if python_bin else []
    lines += _sycl_exports(python_bin)
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(site.env.items())]
    if pool.worker_init:
        lines.append(pool.worker_init)
    if environments:
        lines.append(environments)
    return "\n".join(lines)


def environment_init(plan: Plan, pool_name: str) -> str:
    """`module use`/`module load` lines of the module environments of the stages a pool
    runs: the block loads them once (a missing module shows in the block's output, the
    workers see the modules' variables); each task still loads its own environment."""
    from orchestrator.backends.environments import module_lines

    names = dict.fromkeys(s.environment for s in plan.stages.values()
                          if s.binding.pool == pool_name and s.environment)
    lines = []
    for name in names:
        env = plan.environments.get(name) or {}
        if env.get("modules") and not env.get("container"):
            lines.append(f"# environment {name} (its tasks load it again)")
            lines += module_lines(env, strict=False)
    return "\n".join(lines)


def _sycl_exports(python_bin: str | None) -> list[str]:
    """The oneAPI runtime's variables (LD_LIBRARY_PATH, OCL_ICD_FILENAMES, ...) for workers,
    when the xpu extra is installed in the virtualenv of `python_bin`; they must be set
    before the worker process starts (orchestrator/library/sycl_env.py)."""
    if not python_bin:
        return []
    from pathlib import Path

    from orchestrator.library.sycl_env import shell_exports

    return shell_exports(Path(python_bin).parent)


def python_bin() -> str:
    """The bin/ directory of the running interpreter (the project's virtualenv)."""
    import sys
    from pathlib import Path

    return str(Path(sys.executable).parent)


def block_script(plan: Plan, site: Site, pool_name: str,
                 user_script: str | None = None, script_dir: str = "submit_scripts",
                 jobname: str | None = None) -> str:
    """The batch script of one block (pilot job) of `pool_name`."""
    pool = site.pools[pool_name]
    jobname = jobname or f"orch.{plan.workflow}.{pool_name}"
    if user_script is None:
        user_script = ("# Parsl starts its worker pool here, filled in at submission: python -m "
                       "orchestrator.backends.parsl.process_worker_pool (Parsl's "
                       "process_worker_pool.py with one repair)\n"
                       + _worker_comment(plan, pool_name, pool))
    return _TEMPLATE.format(
        jobname=jobname,
        script_dir=script_dir,
        nodes=pool.nodes_per_block,
        minutes=max(1, parse_walltime(pool.walltime) // 60),
        scheduler_options="\n".join(slurm_directives(site, pool_name)),
        worker_init=worker_init(site, pool, python_bin(), environment_init(plan, pool_name)),
        user_script=user_script,
    )


def _worker_comment(plan: Plan, pool_name: str, pool: Pool) -> str:
    stages = [s for s in plan.stages.values() if s.binding.pool == pool_name]
    workers = max((s.binding.slots_per_node for s in stages), default=1)
    lines = [f"# workers per node: {workers}; block walltime {format_walltime(parse_walltime(pool.walltime))}"]
    for s in stages:
        masks = sorted({tuple(sorted(t.device_mask.items())) for t in s.tasks})
        shown = "; ".join(" ".join(f"{k}={v}" for k, v in m) or "-" for m in masks[:8])
        lines.append(f"# stage {s.name}: {len(s.tasks)} task(s), masks: {shown}")
    return "\n".join(lines)


def write_scripts(plan: Plan, site: Site, script_dir: str = "submit_scripts") -> dict[str, str]:
    """File name -> script text for every pool the plan uses (Slurm sites only)."""
    if site.scheduler != "slurm":
        return {}
    used = sorted({s.binding.pool for s in plan.stages.values()})
    return {f"{pool}.sbatch": block_script(plan, site, pool, script_dir=script_dir)
            for pool in used}
