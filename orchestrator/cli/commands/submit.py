"""`orch submit`: the driver itself as a batch job, so nothing runs on the login node. The
job's allocation runs `orch run` and the workflow's tasks (its pools' blocks are job steps
of it); `--chain N` queues N jobs, each resuming the run the one before left (docs/submit.md). This command plans, writes the script and submits; it
runs nothing itself."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "submit"
HELP = ("submit the driver as a batch job that runs the workflow inside its allocation; "
        "--chain N resumes it in up to N jobs")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", metavar="WORKFLOW", nargs="?", help="workflow spec (YAML)")
    p.add_argument("--site", metavar="SITE",
                   help="site config: a path or a shipped name (a Slurm or PBS Pro site)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a workflow param (repeatable)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="submit further links of a submitted run (its own script): after a "
                        "chain ran out before the run ended")
    p.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="the run directory (default runs/WORKFLOW-TIMESTAMP)")
    p.add_argument("--chain", type=int, default=1, metavar="N",
                   help="queue N jobs (default 1): each resumes the run if the one before "
                        "ended first (time limit); a finished run cancels the rest")
    p.add_argument("--time", metavar="WALLTIME",
                   help="each job's time limit (default: the pool's block walltime)")
    p.add_argument("--dry-run", action="store_true",
                   help="write the run directory's driver script, submit nothing")
    p.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from orchestrator.backends.chain import submit_links
    from orchestrator.cli.commands.common import load_both
    from orchestrator.errors import UsageError, UserError
    from orchestrator.plan.build import build_plan
    from orchestrator.plan.driver_job import driver_script
    from orchestrator.state.atomic import atomic_write_text
    from orchestrator.state.rundir import SUBMIT_DIR, SUBMIT_NAME, RunDir, check_new_run_dir

    if not 1 <= args.chain <= 100:
        raise UsageError(f"--chain {args.chain}: give 1 to 100 jobs")
    if args.resume is not None:
        if args.workflow or args.site or args.sets or args.run_dir or args.time:
            raise UsageError("--resume RUN_DIR submits the run's own script again: give no "
                             "WORKFLOW, --site, --set, --run-dir or --time with it")
        return _resume(args)
    if not args.workflow or not args.site:
        raise UsageError("give a WORKFLOW and --site SITE (or --resume RUN_DIR)")
    spec, site = load_both(args, need_site=True)
    assert site is not None
    plan = build_plan(spec, site)
    site_ref = str(site.path.resolve()) if site.path else str(args.site)
    check_new_run_dir(args.run_dir)

    def script_for(run_dir: Path) -> tuple[str, str]:
        return driver_script(plan, site.site, workflow=args.workflow, site_ref=site_ref,
                             run_dir=run_dir, sets=list(args.sets), time=args.time,
                             cwd=Path.cwd())

    script_for(Path("runs"))  # its errors (the pools, --time) before anything is written
    # a fresh name of its own, never one another `orch run` or `orch submit` just made
    rundir = RunDir.create(plan.workflow, path=args.run_dir.resolve() if args.run_dir else None)
    name, text = script_for(rundir.path)
    script = rundir.path / SUBMIT_DIR / name
    try:
        script.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(script, text, mode=0o755)
    except OSError as exc:
        raise UserError(f"{script}: cannot write the driver's script "
                        f"({exc.strerror or exc})") from None
    rundir.write_json(SUBMIT_NAME, {"scheduler": site.site.scheduler, "script": str(script),
                                    "links": []})  # a dry run's script: --resume submits it
    links = [] if args.dry_run else submit_links(site.site.scheduler, script, rundir.path,
                                                 args.chain)
    _print(args, rundir.path, script, links)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from orchestrator.backends.chain import ended_state, submit_links
    from orchestrator.errors import UserError
    from orchestrator.state.submit_jobs import record

    data = record(args.resume)
    script = Path(str(data.get("script", "")))
    if not data or not script.is_file():
        raise UserError(f"{args.resume}: not a run `orch submit` started (no submit.json with "
                        "its driver script); submit a new run, or `orch run --resume` it")
    state = ended_state(args.resume)
    if state is not None:
        raise UserError(f"{args.resume}: the run has already ended ({state}); nothing to "
                        "submit (`orch run --resume` re-runs what changed)")
    links = [] if args.dry_run else submit_links(str(data["scheduler"]), script,
                                                 args.resume.resolve(), args.chain)
    _print(args, args.resume.resolve(), script, links)
    return 0


def _print(args, run_dir: Path, script: Path, links: list[dict]) -> None:
    if args.format == "json":
        print(json.dumps({"run_dir": str(run_dir), "script": str(script),
                          "jobs": [{"link": x["link"], "job": x["job"]} for x in links]},
                         indent=2))
        return
    if not links:
        print(f"wrote {script} (not submitted: --dry-run)")
    for x in links:
        after = " (runs after the one before ends, if the run is not finished)" \
            if x["link"] > 1 else ""
        print(f"submitted job {x['job']}: link {x['link']}{after}")
    print(f"run directory: {run_dir}")
    if links:
        print(f"  follow it: orch status {run_dir}", file=sys.stderr)
