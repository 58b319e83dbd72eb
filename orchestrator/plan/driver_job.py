"""The driver's own batch job (`orch submit`): one allocation that runs `orch run` and every
block of the run, sized from the pools the plan uses. Scheduler-neutral; the scheduler
module renders the script (`Scheduler.driver_script`). No Parsl, no I/O.

Every pool the plan uses must fit one allocation: their blocks' directives (partition or
queue, cores, memory, GPUs, constraint, account) must agree, since a batch job is one
request. The allocation has as many nodes as the largest block.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from orchestrator import schedulers
from orchestrator.errors import UserError
from orchestrator.plan.model import Plan
from orchestrator.plan.scripts import python_bin, worker_comment, worker_init
from orchestrator.schedulers.base import DriverJob
from orchestrator.site.models import Site
from orchestrator.units import format_walltime, parse_walltime

SIGNAL_LEAD_S = 90  # the driver's notice before the time limit (at most a quarter of it)


def allocation_pool(plan: Plan, site: Site) -> str:
    """The pool whose block directives the allocation asks for; UserError when the plan's
    pools cannot share one allocation, or the site has no batch system."""
    scheduler = schedulers.get(site.scheduler)
    if not scheduler.capabilities.batch:
        raise UserError(f"site {plan.site!r} has no batch system (scheduler: {site.scheduler})"
                        ": there is nothing to submit to; run it with `orch run`")
    used = sorted({s.binding.pool for s in plan.stages.values()})
    if not used:
        raise UserError(f"workflow {plan.workflow!r} has no tasks: nothing to submit")
    by_lines: dict[tuple[str, ...], list[str]] = {}
    for name in used:
        by_lines.setdefault(tuple(scheduler.directives(site, name)), []).append(name)
    if len(by_lines) > 1:
        shown = "; ".join(f"{', '.join(names)}: {' '.join(lines) or '(no options)'}"
                          for lines, names in by_lines.items())
        raise UserError(f"`orch submit` runs every task inside one {scheduler.capabilities.label}"
                        f" job, but the pools this workflow uses ask for different resources "
                        f"({shown}). Bind the stages to pools that share a partition and node "
                        "shape, or run the driver with `orch run` in an allocation (its blocks "
                        "are then jobs of their own; docs/first-day.md)")
    return max(used, key=lambda n: site.pools[n].nodes_per_block)


def walltime_s(site: Site, pool: str, time: str | None) -> int:
    """`--time`, or the pool's block walltime; never over the pool's `max_walltime`."""
    p = site.pools[pool]
    try:
        seconds = parse_walltime(time) if time else parse_walltime(p.walltime)
    except ValueError as exc:
        raise UserError(f"--time {time!r}: {exc}") from None
    if seconds < 60:
        raise UserError(f"--time {time!r}: batch jobs run at least one minute")
    if p.max_walltime and seconds > parse_walltime(p.max_walltime):
        raise UserError(f"--time {format_walltime(seconds)} is over pool {pool!r}'s "
                        f"max_walltime {p.max_walltime}: ask for less, and let --chain "
                        "continue the run in further jobs")
    return seconds


def driver_command(workflow: str, site_ref: str, run_dir: Path, sets: list[str]) -> str:
    """`orch run` as each link runs it: the same run directory every time (the first link
    starts the run, the next ones resume it)."""
    argv = [str(Path(python_bin()) / "orch"), "run", str(Path(workflow).resolve()),
            "--site", site_ref, "--run-dir", str(run_dir), "-q"]
    for item in sets:
        argv += ["--set", item]
    return shlex.join(argv)


def driver_job(plan: Plan, site: Site, *, workflow: str, site_ref: str, run_dir: Path,
               sets: list[str], time: str | None = None, cwd: Path | None = None
               ) -> DriverJob:
    pool = allocation_pool(plan, site)
    seconds = walltime_s(site, pool, time)
    env = worker_init(site, site.pools[pool], python_bin())
    if cwd is not None:
        env = f"cd {shlex.quote(str(cwd))}\n{env}"
    every = schedulers.get(site.scheduler).capabilities.task_masks_in_script
    for name in sorted({s.binding.pool for s in plan.stages.values()}):
        env += (f"\n# pool {name}: one block, a job step of this allocation\n"
                + worker_comment(plan, name, site.pools[name], every))
    return DriverJob(
        jobname=f"orch.{plan.workflow}.driver", pool=pool,
        nodes=max(site.pools[n].nodes_per_block
                  for n in {s.binding.pool for s in plan.stages.values()}),
        walltime_s=seconds, signal_lead_s=max(10, min(SIGNAL_LEAD_S, seconds // 4)),
        log=str(run_dir / "submit"), environment=env,
        command=driver_command(workflow, site_ref, run_dir, sets))


def driver_script(plan: Plan, site: Site, **kwargs) -> tuple[str, str]:
    """(file name, text) of the driver's batch script."""
    scheduler = schedulers.get(site.scheduler)
    job = driver_job(plan, site, **kwargs)
    text = scheduler.driver_script(site, job)
    assert text is not None
    return f"driver{scheduler.capabilities.script_suffix}", text
