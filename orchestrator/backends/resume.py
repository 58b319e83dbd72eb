"""What a `--resume` changes: the differences from the run's previous attempt (params,
`--set` values, site, workflow, template sources and stage code) and how many tasks that
had finished will run again because their keys changed. Said before anything runs, so a
resume never silently redoes hours of work. Engine-neutral: keys are computed exactly as
the runner computes them (`TaskPayloads`), without starting anything."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.backends.payload import TaskPayloads, narrow, upstream_parts
from orchestrator.errors import UserError
from orchestrator.plan.graph import unit_order
from orchestrator.plan.model import Plan

DONE_EVENTS = ("task_done", "task_cached")


def merge_sets(previous: dict[str, str], items: list[str] | None,
               unset: list[str] | None) -> dict[str, str]:
    """The `--set` values of a resume: the earlier attempt's, minus `--unset NAME`, plus
    (overriding name by name) the new `--set NAME=VALUE`s."""
    from orchestrator.spec.load import parse_sets

    sets = dict(previous)
    for name in unset or []:
        if name not in sets:
            had = ", ".join(sorted(sets)) or "none"
            raise UserError(f"--unset {name}: no --set value of {name!r} to drop (--unset "
                            f"drops a value a --resume carries over; set before: {had})")
        del sets[name]
    sets.update(parse_sets(items))
    return sets


def done_records(records: Iterable[dict]) -> dict[str, dict]:
    """Key -> what the journal says of the task that finished with that key."""
    done = {}
    for rec in records:
        if rec.get("ev") in DONE_EVENTS and rec.get("key"):
            done[rec["key"]] = {k: rec.get(k) for k in
                                ("task", "key", "result", "started", "ended", "host", "pid",
                                 "devices")}
            done[rec["key"]].update((k, rec[k]) for k in ("files", "inputs") if k in rec)
    return done


def file_sha256(path: Path | None) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except OSError:
        return None


def changed_sources(old_spec: dict, sources) -> list[dict]:
    """Files of the spec (templates included) whose content differs from what the run's
    spec.json recorded: `--resume` lists them and journals `sources_changed`."""
    old = old_spec.get("sources") or []
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
                    "message": f"{what} changed ({version}; sha256 "
                               f"{str(prev.get('sha256'))[:12]} -> {s.sha256[:12]})"})
    return out


def _show(value: Any) -> str:
    return "(none)" if value is _MISSING else json.dumps(value, default=str)


_MISSING = object()


def param_changes(old_params: dict, params: dict, old_sets: dict, sets: dict) -> list[dict]:
    """Resolved params that differ, each saying where its new value comes from."""
    out = []
    for name in sorted({*old_params, *params}):
        old, new = old_params.get(name, _MISSING), params.get(name, _MISSING)
        if old == new:
            continue
        if name in sets:
            why = "--set"
        elif name in old_sets:
            why = "--unset: the workflow's default"
        else:
            why = "the workflow's default"
        out.append({"kind": "param", "name": name, "old": None if old is _MISSING else old,
                    "new": None if new is _MISSING else new,
                    "message": f"param {name}: {_show(old)} -> {_show(new)} ({why})"})
    return out


def code_changes(old_code: dict, code: dict[str, str]) -> list[dict]:
    """Stages whose code hash differs (a python module or a .py file next to the spec)."""
    stages = [s for s, h in code.items() if s in old_code and old_code[s] != h]
    if not stages:
        return []
    shown = ", ".join(stages[:8]) + (", ..." if len(stages) > 8 else "")
    return [{"kind": "code", "name": "stages", "old": None, "new": stages,
             "message": f"code run by stage(s) {shown} changed (its module, or a .py file "
                        "next to the spec)"}]


def run_changes(old_meta: dict, meta: dict) -> list[dict]:
    """Workflow file and site: another path, or the same path with other content."""
    out = []
    for kind in ("workflow", "site"):
        old, new = old_meta.get(kind), meta.get(kind)
        if old and new and old != new:
            out.append({"kind": kind, "name": kind, "old": old, "new": new,
                        "message": f"{kind}: {old} -> {new}"})
    old_sha, sha = old_meta.get("site_sha256"), meta.get("site_sha256")
    if old_meta.get("site") == meta.get("site") and old_sha and sha and old_sha != sha:
        out.append({"kind": "site", "name": "site_sha256", "old": old_sha, "new": sha,
                    "message": f"site file {meta.get('site')} changed "
                               f"(sha256 {old_sha[:12]} -> {sha[:12]})"})
    return out


def differences(old_meta: dict, meta: dict, old_spec: dict, spec,
                code: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Everything that differs from the last attempt, and the changed spec files alone
    (journaled as `sources_changed`, as before)."""
    sources = changed_sources(old_spec, spec.sources)
    changes = [
        *run_changes(old_meta, meta),
        *param_changes(old_spec.get("params") or {}, spec.params, old_meta.get("sets") or {},
                       meta.get("sets") or {}),
        *[{"kind": "source", "name": s["path"], "old": s["old_sha256"], "new": s["sha256"],
           "message": s["message"]} for s in sources],
        *code_changes(old_spec.get("code") or {}, code),
    ]
    return changes, sources


class _KeyWalk:
    """Task keys as the runner derives them: stages in unit order, each task's key from
    its upstream tasks' keys, loop iterations one after the other."""

    def __init__(self, plan: Plan, payloads: TaskPayloads, changed: set[str] | None = None):
        self.plan, self.payloads = plan, payloads
        self.changed = set(changed or ())  # files changed by hand, then those re-written
        self.rewrites: list[str] = []  # tasks that read a changed file, in run order
        self.keys: dict[str, str] = {}
        self.ids: dict[tuple[str, int | None], list[str]] = {}
        self.final: dict[str, int] = {}

    def walk(self, iterations: dict[str, int]) -> dict[str, str]:
        for unit in unit_order(self.plan):
            loop = self.plan.loops.get(unit)
            if loop is None:
                self._stage(unit, None)
                continue
            order = [s for s in self.plan.stages if s in loop.stages]
            for k in range(1, min(iterations.get(unit, 0), loop.max_iterations) + 1):
                for s in order:
                    self._stage(s, k)
                self.final[unit] = k
        return self.keys

    def _stage(self, name: str, iteration: int | None) -> None:
        stage = self.plan.stages[name]
        parts, upstream_ids, missing = upstream_parts(self.plan, name, iteration, self.ids,
                                                      self.final)
        if missing:
            return  # the runner fails such tasks (dep_failed): they never hit the cache
        matched = stage.matched_needs()
        out = []
        for task in stage.tasks:
            wired = narrow(parts, matched, task.index) if matched else parts
            upstream = [self.keys[i] for _, ids, _ in wired for i in ids]
            payload = self.payloads.build(task, iteration, [], upstream, None, upstream_ids)
            if self.changed and any(e[0] in self.changed for e in payload.get("stage_in", ())):
                self.rewrites.append(payload["task_id"])  # and its files change in turn
                self.changed.update(f"{payload['task_dir']}/{o}" for o in payload["outputs"])
            self.keys[payload["task_id"]] = payload["key"]
            out.append(payload["task_id"])
        self.ids[(name, iteration)] = out


def file_changes(records: Iterable[dict], tasks_root: Path) -> list[dict]:
    """Outputs of finished tasks whose content differs from what the task wrote (edited or
    replaced by hand): their readers run again (the runner checks the same hashes)."""
    from orchestrator.backends.files import current_hash
    from orchestrator.state.rundir import task_dirname

    latest: dict[str, dict] = {}
    for rec in records:
        if rec.get("ev") in DONE_EVENTS and rec.get("files"):
            latest[rec["task"]] = rec["files"]
    out = []
    for task, files in latest.items():
        for rel, written in files.items():
            path = f"{tasks_root}/{task_dirname(task)}/{rel}"
            if current_hash(path, written) != written[0]:
                shown = f"tasks/{task_dirname(task)}/{rel}"
                out.append({"kind": "file", "name": shown, "path": path,
                            "message": f"file {shown} differs from what {task} wrote"})
    return out


def loop_iterations(records: Iterable[dict]) -> dict[str, int]:
    """How far each loop got in earlier attempts (the iterations worth checking)."""
    out: dict[str, int] = {}
    for rec in records:
        loop, it = rec.get("loop"), rec.get("iteration") or rec.get("iterations")
        if isinstance(loop, str) and isinstance(it, int):
            out[loop] = max(out.get(loop, 0), it)
    return out


@dataclass
class ResumeChanges:
    changes: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # the `sources_changed` journal record
    finished: int = 0  # planned tasks that finished in earlier attempts
    again: list[str] = field(default_factory=list)  # ... of which the key changed

    def lines(self) -> list[str]:
        if not self.changes and not self.again:
            return []
        out = ["resume: changed since the last attempt:"] if self.changes else []
        out += [f"  {c['message']}" for c in self.changes]
        n, m = len(self.again), self.finished
        if n:
            why = "" if self.changes else " (their inputs or code changed)"
            shown = ", ".join(self.again[:5]) + (", ..." if n > 5 else "")
            out.append(f"resume: {n} of {m} task(s) that finished before will run again{why}: "
                       f"{shown}")
        else:
            out.append(f"resume: none of the {m} task(s) that finished before is affected")
        return out

    def record(self) -> dict[str, Any]:
        return {"changes": [{k: v for k, v in c.items() if k != "message"}
                            for c in self.changes],
                "finished": self.finished, "again": len(self.again), "tasks": self.again[:100]}


def assess(plan: Plan, payloads: TaskPayloads, records: list[dict],
           changes: list[dict], sources: list[dict]) -> ResumeChanges:
    """Which finished tasks the differences send back to run: the planned tasks whose new
    key is not among the finished keys (journaled, or recovered from worker files)."""
    out = ResumeChanges(changes, sources)
    if not changes:  # nothing we can name changed: no need to derive every key up front
        return out
    changed = {c["path"] for c in changes if c["kind"] == "file"}
    walk = _KeyWalk(plan, payloads, changed)
    keys = walk.walk(loop_iterations(records))
    finished = {r["task"] for r in records if r.get("ev") in DONE_EVENTS and r.get("task")}
    done_keys = {r.get("key") for r in records if r.get("ev") in DONE_EVENTS}
    planned = [t for t in keys if t in finished]
    again = [t for t in planned if keys[t] not in done_keys]
    if again:  # finished while a driver was dying: the runner recovers these too
        from orchestrator.state.results import results_by_key

        recovered = results_by_key(payloads.rundir.path)
        again = [t for t in again if keys[t] not in recovered]
    seen = set(again)  # and those that read a changed file
    again += [t for t in walk.rewrites if t in finished and t not in seen]
    out.finished, out.again = len(planned), again
    return out
