"""Prepare one attempt of a run, before anything runs: read the previous attempt (on
`--resume`), load spec and site, build the plan, create (and lock) or reopen the run
directory, say what a resume changes, and write run.json, spec.json and plan.json.
Engine-neutral; `lifecycle.py` runs what this prepares."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.errors import UserError


@dataclass
class RunRequest:
    """What `orch run` asks for."""

    workflow: str | None
    site: str | None = None
    sets: list[str] | None = None  # --set NAME=VALUE
    unset: list[str] | None = None  # --unset NAME (with resume)
    run_dir: Path | None = None
    resume: Path | None = None  # the run directory to resume
    quiet: bool = False  # no progress display
    argv: list[str] = field(default_factory=list)  # the command line, for run.json and the lock
    link: int | None = None  # `orch submit`: this driver is chain link K, inside its batch job
    parsl_log: str = "warning"  # Parsl's own log level (backends/parsl/log_level.py)


@dataclass
class Attempt:
    """What an attempt runs: the plan and everything it was prepared with."""

    plan: Any
    spec: Any
    site: Any
    rundir: Any
    number: int  # 1 for a run's first attempt
    payloads: Any
    records: list[dict]  # the journal of earlier attempts
    changes: Any  # backends.resume.ResumeChanges, on resume


def prepare(request: RunRequest, held: contextlib.ExitStack,
            notice: Callable[[str], None]) -> Attempt:
    """The attempt `request` asks for; a new run directory's lock goes on `held`. What a
    resume changes goes to `notice`, line by line."""
    from orchestrator.backends.payload import TaskPayloads
    from orchestrator.backends.resume import file_sha256, merge_sets
    from orchestrator.plan.build import build_plan
    from orchestrator.state.rundir import RunDir, check_new_run_dir

    previous = previous_run(request.resume) if request.resume else {}
    workflow = request.workflow or previous.get("workflow")
    if not workflow:
        raise UserError("a WORKFLOW is required (or --resume RUN_DIR)")
    if not request.resume:
        check_new_run_dir(request.run_dir)
    sets = merge_sets(previous.get("sets") or {}, request.sets, request.unset)
    site_ref = request.site or previous.get("site")
    spec, site = _load(workflow, sets, site_ref)
    plan = build_plan(spec, site)
    if request.resume:
        rundir = RunDir(request.resume.resolve())
    else:
        rundir = RunDir.create(plan.workflow, path=request.run_dir)
        held.callback(_lock_new(rundir, request.argv).release)
    meta = {
        "workflow": str(Path(workflow).resolve()),
        "site": str(site.path.resolve()) if site.path else site_ref,
        "site_sha256": file_sha256(site.path),
        "sets": sets,
        "created": previous.get("created", time.time()),
        "attempts": [*previous.get("attempts", []), {"started": time.time(), "pid": os.getpid(),
                                                      "argv": request.argv,
                                                      "orch_version": __version__}],
    }
    payloads = TaskPayloads(plan, spec, rundir)
    code = {name: payloads.code_hash(stage) for name, stage in plan.stages.items()}
    records, changes = _resume_changes(rundir, previous, meta, spec, plan, payloads, code,
                                       notice) if request.resume else ([], None)
    _write_run_files(rundir, meta, spec, plan, code)
    return Attempt(plan, spec, site, rundir, len(meta["attempts"]), payloads, records, changes)


def previous_run(path: Path) -> dict:
    """The run.json of the run directory at `path`."""
    run_json = path / "run.json"
    if not run_json.is_file():
        raise UserError(f"{path}: not a run directory (no run.json)")
    try:
        return json.loads(run_json.read_text())
    except ValueError as exc:
        raise UserError(f"{run_json}: unreadable ({exc})") from None


def _resume_changes(rundir, previous: dict, meta: dict, spec, plan, payloads, code,
                    notice: Callable[[str], None]):
    """Say what changed since the last attempt and which finished tasks it re-runs; read
    before run.json and spec.json are overwritten."""
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
        notice(line)
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


def _lock_new(rundir, argv: list[str]):
    """Lock a freshly created run directory; another driver may have created it first."""
    from orchestrator.state.lock import acquire

    lock = acquire(rundir.path, argv)
    if rundir.exists():
        lock.release()
        raise UserError(f"{rundir.path} already holds a run; continue it with "
                        f"--resume {rundir.path} or choose another --run-dir")
    return lock
