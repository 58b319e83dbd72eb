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
from pathlib import Path

from orchestrator.errors import UserError

NAME = "run"
HELP = "run a workflow (Parsl); --resume RUN_DIR finishes an interrupted or failed run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", metavar="WORKFLOW", nargs="?",
                   help="workflow spec (YAML); with --resume, defaults to the run's own")
    p.add_argument("--site", metavar="SITE", help="site config: a path or shipped name")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="NAME=VALUE",
                   help="override a workflow param (repeatable)")
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
    from orchestrator.plan.build import build_plan
    from orchestrator.plan.export import iter_json
    from orchestrator.spec.load import parse_sets
    from orchestrator.state.atomic import atomic_write_text
    from orchestrator.state.rundir import RunDir

    previous = _previous_run(args.resume) if args.resume else {}
    workflow = args.workflow or previous.get("workflow")
    if not workflow:
        raise UserError("a WORKFLOW is required (or --resume RUN_DIR)")
    if not args.resume:
        _check_new_run_dir(args.run_dir)
    sets = parse_sets(args.sets) if args.sets is not None else previous.get("sets", {})
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
        "sets": sets,
        "created": previous.get("created", time.time()),
        "attempts": [*previous.get("attempts", []), {"started": time.time(), "pid": os.getpid(),
                                                      "argv": sys.argv[1:]}],
    }
    changed = _changed_sources(rundir.path / "spec.json", spec.sources) if args.resume else []
    for c in changed:
        print(f"warning: {c['message']}", file=sys.stderr)
    rundir.write_json("run.json", meta)
    rundir.write_json("spec.json", {"workflow": spec.workflow.model_dump(mode="json", by_alias=True),
                                    "params": spec.params,
                                    "sources": [s.__dict__ for s in spec.sources]})
    atomic_write_text(rundir.path / "plan.json", "".join(iter_json(plan)))
    return _execute(args, plan, spec, site, rundir, len(meta["attempts"]), changed)


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


_SCAFFOLD = {".lock", "tasks"}  # what RunDir.create makes before run.json is written


def _check_new_run_dir(path: Path | None) -> None:
    """`--run-dir` names a new or empty folder: writing a run into one that holds other
    files would mix them with the run's (and `--resume` would not recognise it)."""
    if path is None or not path.exists():
        return
    if (path / "run.json").exists():
        raise UserError(f"{path} already holds a run; continue it with --resume {path} "
                        "or choose another --run-dir")
    if not path.is_dir():
        raise UserError(f"--run-dir {path}: exists and is not a folder; "
                        "choose another --run-dir")
    extra = sorted(p.name for p in path.iterdir()
                   if p.name not in _SCAFFOLD or (p.name == "tasks" and any(p.iterdir())))
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise UserError(f"--run-dir {path}: the folder is not empty ({shown}) and is not a run "
                        "directory (no run.json); choose a new or empty folder, or remove "
                        "what is in it")


def _lock_new(rundir):
    """Lock a freshly created run directory; another driver may have created it first."""
    from orchestrator.state.lock import acquire

    lock = acquire(rundir.path, sys.argv[1:])
    if rundir.exists():
        lock.release()
        raise UserError(f"{rundir.path} already holds a run; continue it with "
                        f"--resume {rundir.path} or choose another --run-dir")
    return lock


def _changed_sources(spec_json: Path, sources) -> list[dict]:
    """Files of the spec (templates included) whose content differs from what the run's
    spec.json recorded: `--resume` warns about them and journals `sources_changed`."""
    try:
        old = json.loads(spec_json.read_text()).get("sources") or []
    except (OSError, ValueError, AttributeError):
        return []
    before = {s["path"]: s for s in old if isinstance(s, dict) and isinstance(s.get("path"), str)}
    out = []
    for s in sources:
        prev = before.get(s.path)
        if prev is None or prev.get("sha256") == s.sha256:
            continue
        what = f"template {s.template!r}" if s.template else s.path
        version = (f"version {prev.get('version')} -> {s.version}"
                   if prev.get("version") != s.version else
                   f"version {s.version} not bumped" if s.version else "no version")
        out.append({"path": s.path, "template": s.template, "old_version": prev.get("version"),
                    "version": s.version, "old_sha256": prev.get("sha256"), "sha256": s.sha256,
                    "message": f"{what} changed since the run's last attempt ({version}; "
                               f"sha256 {str(prev.get('sha256'))[:12]} -> {s.sha256[:12]}); "
                               "tasks whose definition changed run again"})
    return out


def _previous_run(path: Path) -> dict:
    run_json = path / "run.json"
    if not run_json.is_file():
        raise UserError(f"{path}: not a run directory (no run.json)")
    try:
        return json.loads(run_json.read_text())
    except ValueError as exc:
        raise UserError(f"{run_json}: unreadable ({exc})") from None


def _done_records(journal_path: Path) -> dict[str, dict]:
    from orchestrator.state.journal import read_journal

    done = {}
    for rec in read_journal(journal_path):
        if rec.get("ev") in ("task_done", "task_cached") and rec.get("key"):
            done[rec["key"]] = {k: rec.get(k) for k in
                                ("task", "key", "result", "started", "ended", "host", "pid",
                                 "devices")}
    return done


def _execute(args, plan, spec, site, rundir, attempt: int, changed=()) -> int:
    from orchestrator.backends.parsl import reaper
    from orchestrator.backends.parsl.run import ParslRun
    from orchestrator.report.progress import Progress
    from orchestrator.state.journal import Journal

    if args.resume:
        reaped = reaper.reap(f"{rundir.path}#") + reaper.cancel_jobs(rundir.path)
        if reaped:
            print(f"stopped {reaped} leftover process(es) of an earlier attempt", file=sys.stderr)
    tag = f"{rundir.path}#{attempt}"
    reaper.start_watchdog(tag)
    done = _done_records(rundir.journal)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    journal = Journal(rundir.journal)
    progress = Progress(list(plan.stages), quiet=args.quiet or args.format == "json")
    runner = ParslRun(plan, spec, site.site, rundir, journal, done, progress,
                      resuming=bool(args.resume))
    journal.append("run_started", workflow=plan.workflow, site=plan.site, attempt=attempt,
                   pid=os.getpid(), host=socket.gethostname(), resume=bool(args.resume),
                   tasks=plan.task_count)
    if changed:
        journal.append("sources_changed", sources=[
            {k: v for k, v in c.items() if k != "message"} for c in changed])
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


def _close(runner, journal, tag: str | None = None) -> None:
    from orchestrator.backends.parsl import reaper

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
        print(f"failed: {f['task']}: {f['error']}\n  logs: {f['stderr']}", file=sys.stderr)
