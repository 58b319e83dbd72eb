"""`orch run`: execute a workflow on a site through Parsl, durably (see docs/run.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError

NAME = "run"
HELP = "run a workflow (Parsl); --resume RUN_DIR finishes an interrupted or failed run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", metavar="WORKFLOW", nargs="?",
                   help="workflow spec (YAML); with --resume, defaults to the run's own")
    p.add_argument("--site", metavar="SITE", help="site config: a path or shipped name")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="NAME=VALUE",
                   help="override a workflow param (repeatable); with --resume, overrides "
                        "that name only: the other values of the run carry over")
    p.add_argument("--unset", action="append", default=None, metavar="NAME",
                   help="with --resume: drop a carried-over --set value (the param goes "
                        "back to the workflow's default)")
    p.add_argument("--run-dir", type=Path, metavar="DIR", help="where to write the run")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="resume this run: tasks done with the same key are not re-run")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="final summary format")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: shut down cleanly, leave a resumable run."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def run(args: argparse.Namespace) -> int:
    """One driver per run directory: the lock is taken before anything in the run
    directory is read for resuming, written or reaped, and held until the run's own
    processes are gone (the kernel drops it if this process dies)."""
    from orchestrator.state.lock import acquire

    with contextlib.ExitStack() as held:
        if args.resume:
            _previous_run(args.resume)  # a run directory, before a lock file appears in it
            held.callback(acquire(args.resume.resolve(), sys.argv[1:]).release)
        return _run(args, held)


def _run(args: argparse.Namespace, held: contextlib.ExitStack) -> int:
    from orchestrator.backends.payload import TaskPayloads
    from orchestrator.backends.resume import file_sha256, merge_sets
    from orchestrator.plan.build import build_plan
    from orchestrator.state.rundir import RunDir, check_new_run_dir

    previous = _previous_run(args.resume) if args.resume else {}
    workflow = args.workflow or previous.get("workflow")
    if not workflow:
        raise UserError("a WORKFLOW is required (or --resume RUN_DIR)")
    if not args.resume:
        check_new_run_dir(args.run_dir)
    sets = merge_sets(previous.get("sets") or {}, args.sets, args.unset)
    site_ref = args.site or previous.get("site")
    spec, site = _load(workflow, sets, site_ref)
    plan = build_plan(spec, site)
    if args.resume:
        rundir = RunDir(args.resume.resolve())
    else:
        rundir = RunDir.create(plan.workflow, path=args.run_dir)
        held.callback(_lock_new(rundir).release)
    meta = {
        "workflow": str(Path(workflow).resolve()),
        "site": str(site.path.resolve()) if site.path else site_ref,
        "site_sha256": file_sha256(site.path),
        "sets": sets,
        "created": previous.get("created", time.time()),
        "attempts": [*previous.get("attempts", []), {"started": time.time(), "pid": os.getpid(),
                                                      "argv": sys.argv[1:]}],
    }
    payloads = TaskPayloads(plan, spec, rundir)
    code = {name: payloads.code_hash(stage) for name, stage in plan.stages.items()}
    records, changes = _resume_changes(rundir, previous, meta, spec, plan, payloads, code) \
        if args.resume else ([], None)
    _write_run_files(rundir, meta, spec, plan, code)
    return _execute(args, _Run(plan, spec, site, rundir, len(meta["attempts"]), payloads,
                               records, changes))


@dataclass
class _Run:
    """What `_execute` runs: the plan and everything an attempt was prepared with."""

    plan: Any
    spec: Any
    site: Any
    rundir: Any
    attempt: int
    payloads: Any
    records: list[dict]  # the journal of earlier attempts
    changes: Any  # backends.resume.ResumeChanges, on --resume


def _resume_changes(rundir, previous: dict, meta: dict, spec, plan, payloads, code):
    """Print what changed since the last attempt and which finished tasks it re-runs;
    read before run.json and spec.json are overwritten."""
    from orchestrator.backends import resume
    from orchestrator.state.journal import read_journal

    try:
        old_spec = rundir.read_json("spec.json")
    except (OSError, ValueError):
        old_spec = {}
    old_spec = old_spec if isinstance(old_spec, dict) else {}
    changes, sources = resume.differences(previous, meta, old_spec, spec, code)
    records = list(read_journal(rundir.journal))
    changes += resume.file_changes(records, rundir.path / "tasks")
    found = resume.assess(plan, payloads, records, changes, sources)
    for line in found.lines():
        print(line, file=sys.stderr)
    return records, found


def _write_run_files(rundir, meta: dict, spec, plan, code: dict) -> None:
    from orchestrator.plan.export import iter_json
    from orchestrator.state.atomic import atomic_write_text

    rundir.write_json("run.json", meta)
    rundir.write_json("spec.json", {"workflow": spec.workflow.model_dump(mode="json", by_alias=True),
                                    "params": spec.params,
                                    "sources": [s.__dict__ for s in spec.sources],
                                    "code": code})
    atomic_write_text(rundir.path / "plan.json", "".join(iter_json(plan)))


def _load(workflow, sets: dict, site_ref):
    """The spec and the site, with the errors of both reported together."""
    from orchestrator.site.load import load_site
    from orchestrator.spec.load import load_spec

    errors = []
    spec = site = None
    try:
        spec = load_spec(workflow, sets)
    except UserError as exc:
        errors += exc.diagnostics
    try:
        site = load_site(site_ref)
    except UserError as exc:
        errors += exc.diagnostics
    if errors:
        raise UserError(errors)
    return spec, site


def _lock_new(rundir):
    """Lock a freshly created run directory; another driver may have created it first."""
    from orchestrator.state.lock import acquire

    lock = acquire(rundir.path, sys.argv[1:])
    if rundir.exists():
        lock.release()
        raise UserError(f"{rundir.path} already holds a run; continue it with "
                        f"--resume {rundir.path} or choose another --run-dir")
    return lock


def _previous_run(path: Path) -> dict:
    run_json = path / "run.json"
    if not run_json.is_file():
        raise UserError(f"{path}: not a run directory (no run.json)")
    try:
        return json.loads(run_json.read_text())
    except ValueError as exc:
        raise UserError(f"{run_json}: unreadable ({exc})") from None


def _execute(args, run: _Run) -> int:
    from orchestrator.backends import reaper
    from orchestrator.backends.parsl.attempts import tries_before
    from orchestrator.backends.parsl.run import ParslRun
    from orchestrator.backends.resume import done_records
    from orchestrator.report.progress import Progress
    from orchestrator.state.journal import Journal

    plan, rundir = run.plan, run.rundir
    if args.resume:  # safe: we hold the run directory's lock, no live driver owns these
        reaped = reaper.reap(f"{rundir.path}#") + reaper.cancel_jobs(rundir.path)
        if reaped:
            print(f"stopped {reaped} leftover process(es) of an earlier attempt", file=sys.stderr)
    tag = f"{rundir.path}#{run.attempt}"
    reaper.start_watchdog(tag)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    journal = Journal(rundir.journal)
    progress = Progress(list(plan.stages), quiet=args.quiet or args.format == "json")
    runner = ParslRun(plan, run.spec, run.site.site, rundir, journal, done_records(run.records),
                      progress, resuming=bool(args.resume), payloads=run.payloads,
                      tries_before=tries_before(run.records))
    progress.configure(_shape(run), runner.live)
    _journal_start(journal, run, bool(args.resume))
    started = time.time()
    try:
        if not args.quiet and args.format == "text":
            print(f"run directory: {rundir.path}", flush=True)
        runner.start()
        with progress:
            outcome = runner.execute()
    except KeyboardInterrupt as exc:
        journal.append("run_finished", state="interrupted",
                       signal="SIGTERM" if isinstance(exc, _Terminated) else "SIGINT",
                       seconds=round(time.time() - started, 3))
        _close(runner, journal, tag)
        print(f"orch: interrupted; resume with: orch run --resume {rundir.path}", file=sys.stderr)
        return 130
    except BaseException:
        journal.append("run_finished", state="crashed", seconds=round(time.time() - started, 3))
        _close(runner, journal, tag)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    journal.append("run_finished", state=outcome.state, counts=outcome.counts,
                   failed=[f["task"] for f in outcome.failed],
                   seconds=round(time.time() - started, 3))
    _close(runner, journal, tag)
    _print_outcome(args, outcome, rundir, time.time() - started)
    return 0 if outcome.state == "succeeded" else 3


def _shape(run: _Run):
    """What the progress display's ETA needs: the plan's stages, each pool's nodes, and the
    task durations of earlier runs of this workflow in the same run root."""
    from orchestrator.plan.export import stage_json
    from orchestrator.report.progress import Shape
    from orchestrator.state.history import earlier_runs, stage_history

    capacity = {s.binding.pool: float(s.binding.pool_nodes) for s in run.plan.stages.values()}
    runs = earlier_runs(run.rundir.path.parent, run.plan.workflow, exclude=run.rundir.path)
    return Shape([stage_json(s) for s in run.plan.stages.values()], capacity,
                 stage_history(runs))


def _journal_start(journal, run: _Run, resume: bool) -> None:
    """`run_started`, and on a resume what changed since the last attempt."""
    journal.append("run_started", workflow=run.plan.workflow, site=run.plan.site,
                   attempt=run.attempt, pid=os.getpid(), host=socket.gethostname(),
                   resume=resume, tasks=run.plan.task_count)
    if run.changes and run.changes.sources:
        journal.append("sources_changed", sources=[
            {k: v for k, v in c.items() if k != "message"} for c in run.changes.sources])
    if run.changes and (run.changes.changes or run.changes.again):
        journal.append("resume_changes", **run.changes.record())


def _close(runner, journal, tag: str | None = None) -> None:
    from orchestrator.backends import reaper

    try:
        runner.shutdown()
    finally:
        journal.close()
        if tag:
            reaper.reap(tag, grace=2.0)  # whatever Parsl's shutdown left behind
            os.environ.pop(reaper.TAG_VAR, None)


def _print_outcome(args, outcome, rundir, seconds: float) -> None:
    if args.format == "json":
        print(json.dumps({"run_dir": str(rundir.path), "state": outcome.state,
                          "counts": outcome.counts, "failed": outcome.failed,
                          "loops": outcome.loops, "seconds": round(seconds, 3)}, indent=2))
        return
    counts = ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items()))
    print(f"{outcome.state}: {counts} in {seconds:.1f}s; run directory {rundir.path}")
    for name, info in outcome.loops.items():
        line = f"loop {name}: {info['iterations']} iteration(s), ended by {info['reason']}"
        if info.get("error"):
            line += f": {info['error']}"
        print(line)
    for f in outcome.failed:
        print(_failure_text(f), file=sys.stderr)


def _failure_text(f: dict, lines: int = 5) -> str:
    """A failed task for the end-of-run summary: its error, how its command ended, the last
    lines of its stderr (the journal keeps 10; `orch logs RUN_DIR TASK` shows them all)."""
    text = f"failed: {f['task']}: {f['error']}"
    if f.get("exit_code") is not None:
        text += f"\n  exit code {f['exit_code']}" + (f" ({f['signal']})" if f.get("signal")
                                                       else "")
    tail = (f.get("stderr_tail") or "").splitlines()[-lines:]
    text += "".join(f"\n  | {line}" for line in tail)
    return text + f"\n  logs: {f['stderr']}"
