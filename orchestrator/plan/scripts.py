"""Batch scripts for a plan's pools, as the site scheduler's Parsl provider submits them.

The scheduler-neutral parts live here (the worker environment, the module lines of the
pool's environments, what the workers will run and with which device masks); the
directives and the template are the scheduler's (orchestrator/schedulers/). The Parsl
backend builds its providers from the same pieces, so what `orch plan --scripts` writes
is what is submitted.
"""

from __future__ import annotations

import shlex

from orchestrator import schedulers
from orchestrator.plan.model import Plan, StagePlan, device_masks
from orchestrator.schedulers.base import ScriptParts
from orchestrator.site.models import Pool, Site
from orchestrator.units import format_walltime, parse_walltime


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
                 jobname: str | None = None) -> str | None:
    """The batch script of one block (pilot job) of `pool_name`; None on a site without a
    batch system."""
    pool = site.pools[pool_name]
    scheduler = schedulers.get(site.scheduler)
    jobname = jobname or f"orch.{plan.workflow}.{pool_name}"
    if user_script is None:
        user_script = ("# Parsl starts its worker pool here, filled in at submission: python -m "
                       "orchestrator.backends.parsl.process_worker_pool (Parsl's "
                       "process_worker_pool.py with one repair)\n"
                       + worker_comment(plan, pool_name, pool,
                                         scheduler.capabilities.task_masks_in_script))
    parts = ScriptParts(
        jobname=jobname, script_dir=script_dir,
        worker_init=worker_init(site, pool, python_bin(), environment_init(plan, pool_name)),
        user_script=user_script)
    return scheduler.script(site, pool_name, parts)


def worker_comment(plan: Plan, pool_name: str, pool: Pool, every_task: bool = False) -> str:
    """Workers per node and, per stage, its device masks: the distinct ones (at most 8), or
    with `every_task` each task's (`task_masks`)."""
    stages = [s for s in plan.stages.values() if s.binding.pool == pool_name]
    workers = max((s.binding.slots_per_node for s in stages), default=1)
    lines = [f"# workers per node: {workers}; block walltime {format_walltime(parse_walltime(pool.walltime))}"]
    if every_task:
        return "\n".join(lines) + task_masks(plan, pool_name)
    for s in stages:
        masks = sorted({tuple(sorted(m.items())) for m in device_masks(s.tasks)})
        shown = "; ".join(" ".join(f"{k}={v}" for k, v in m) or "-" for m in masks[:8])
        lines.append(f"# stage {s.name}: {len(s.tasks)} task(s), masks: {shown}")
    return "\n".join(lines)


def task_masks(plan: Plan, pool_name: str) -> str:
    """Every task's device mask, grouped by mask: `#   MASK: stage[0..276/12]` (indices
    a..b every s), as the plan gives them (`orch plan --format json` lists the same)."""
    lines = []
    for stage in plan.stages.values():
        if stage.binding.pool != pool_name:
            continue
        by_mask: dict[tuple, list] = {}
        for task in stage.tasks:
            by_mask.setdefault(tuple(task.device_mask.items()), []).append(task)
        ranks = stage.resources["ranks"]
        mpi = (f" of {ranks} ranks, in the pool's MPI-mode block (each rank takes its share "
               "of the mask)") if ranks > 1 else ""
        lines.append(f"# stage {stage.name}: {len(stage.tasks)} task(s){mpi}, device mask "
                     "by task:")
        for mask, tasks in by_mask.items():
            shown = " ".join(f"{k}={v}" for k, v in mask) or "-"
            lines.append(f"#   {shown}: {_task_ranges(stage, tasks)}")
    return "".join(f"\n{line}" for line in lines)


def _task_ranges(stage: StagePlan, tasks: list) -> str:
    """`s[0..276/12,3,5]`: the tasks' indices as arithmetic runs (`a..b/step`, `a..b` for
    step 1); a stage without a sweep is just its name."""
    if any(t.index is None for t in tasks):
        return ", ".join(t.id for t in tasks)
    runs: list[str] = []
    idx = [t.index for t in tasks]
    i = 0
    while i < len(idx):
        j = i + 1
        if j < len(idx):
            step = idx[j] - idx[i]
            while j + 1 < len(idx) and idx[j + 1] - idx[j] == step:
                j += 1
            if j - i >= 2:  # three or more in a run
                runs.append(f"{idx[i]}..{idx[j]}" + (f"/{step}" if step != 1 else ""))
                i = j + 1
                continue
        runs.append(str(idx[i]))
        i += 1
    return f"{stage.name}[{','.join(runs)}]"


def write_scripts(plan: Plan, site: Site, script_dir: str = "submit_scripts") -> dict[str, str]:
    """File name -> script text for every pool the plan uses (batch sites only)."""
    caps = schedulers.get(site.scheduler).capabilities
    if not caps.batch:
        return {}
    used = sorted({s.binding.pool for s in plan.stages.values()})
    return {f"{pool}{caps.script_suffix}": block_script(plan, site, pool, script_dir=script_dir)
            for pool in used}
