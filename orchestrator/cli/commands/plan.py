"""`orch plan`: the dry run. Tasks, placement, masks, batch scripts and cost; runs nothing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestrator.cli.commands.common import add_workflow_args, load_both

NAME = "plan"
HELP = "show every task, where it would run, its device mask and cost, without running anything"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workflow_args(p)
    p.add_argument("--format", choices=["text", "json", "dot", "mermaid"], default="text")
    p.add_argument("--scripts", metavar="DIR", type=Path,
                   help="write the batch scripts a Slurm or PBS Pro site would submit into DIR")
    p.add_argument("--driver", action="store_true",
                   help="with --scripts: also write the driver's own batch script, the one "
                        "`orch submit` submits (driver.sbatch, driver.pbs)")
    p.add_argument("--runs", metavar="DIR", type=Path, default=Path("runs"),
                   help="where earlier runs are (default: runs, where `orch run` puts them): "
                        "their task durations give the expected cost")


def run(args: argparse.Namespace) -> int:
    from orchestrator.plan.build import build_plan
    from orchestrator.plan.export import iter_json, to_dot, to_mermaid

    spec, site = load_both(args, need_site=True)
    assert site is not None
    plan = build_plan(spec, site)
    if args.driver and not args.scripts:
        from orchestrator.errors import UsageError

        raise UsageError("--driver writes into the --scripts DIR: give both")
    written = _write_scripts(plan, site, args.scripts, args) if args.scripts else []
    if args.format == "json":
        extra = {"sources": [s.to_json() for s in spec.sources],
                 "scripts": [str(p) for p in written]}
        out = sys.stdout
        for chunk in iter_json(plan, extra, _expectation(plan, args.runs)):
            out.write(chunk)
    elif args.format == "dot":
        sys.stdout.write(to_dot(plan))
    elif args.format == "mermaid":
        sys.stdout.write(to_mermaid(plan))
    else:
        from orchestrator.report.plan_text import render_plan

        render_plan(plan, expected=_expectation(plan, args.runs), sources=spec.sources)
        for path in written:
            print(f"wrote {path}")
        if args.scripts and not written:
            print(f"site {plan.site!r} is not a Slurm site: no batch scripts to write "
                  f"(scheduler {plan.scheduler}: no batch system)")
    return 0


def _expectation(plan, root: Path):
    """The expected cost from earlier runs of this workflow under `root` (state/history.py);
    read here so that the plan itself stays pure."""
    from orchestrator.plan.cost import expect
    from orchestrator.state.history import earlier_runs, stage_history

    runs = earlier_runs(root, plan.workflow)
    return expect(plan, stage_history(runs), len(runs), str(root))


def _driver_script(plan, site, args) -> tuple[str, str]:
    """What `orch submit` would submit, for a run directory named as it would name it."""
    import time

    from orchestrator.plan.driver_job import driver_script

    run_dir = Path("runs").resolve() / f"{plan.workflow}-{time.strftime('%Y%m%d-%H%M%S')}"
    site_ref = str(site.path.resolve()) if site.path else str(args.site)
    return driver_script(plan, site.site, workflow=args.workflow, site_ref=site_ref,
                         run_dir=run_dir, sets=list(args.sets), cwd=Path.cwd())


def _write_scripts(plan, site, directory: Path, args) -> list[Path]:
    from orchestrator.errors import UserError
    from orchestrator.plan.scripts import write_scripts
    from orchestrator.state.atomic import atomic_write_text

    scripts = write_scripts(plan, site.site, str(directory.resolve()))
    if scripts and args.driver:
        scripts.update([_driver_script(plan, site, args)])
    if not scripts:
        return []
    paths = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in scripts.items():
            path = directory / name
            atomic_write_text(path, text, mode=0o755)
            paths.append(path)
    except OSError as exc:
        raise UserError(f"--scripts {directory}: cannot write: {exc.strerror or exc}") from None
    return paths
