"""What happened in a run, folded from its run directory alone (`orch status`).

`load_status` reads `journal.jsonl` (the truth), `plan.json` (tasks never
journaled are `pending`) and `run.json`; it never imports Parsl and never
writes. The latest event of a task wins, except that a `task_cached` record
keeps the timing of the earlier `task_done` it stands for. A task last seen as
`submitted` is `cancelled` unless the attempt that submitted it is still
running. See docs/status-json.md for the JSON view of the result.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.state.journal import read_journal
from orchestrator.state.live import refine_submitted
from orchestrator.state.liveness import pid_alive
from orchestrator.state.lock import holder
from orchestrator.state.rundir import RunDir, task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import (
    Attempt,
    LoopIteration,
    LoopStatus,
    RunStatus,
    StageStatus,
    TaskStatus,
    count_states,
)

RUN_STATES = ("running", "succeeded", "failed", "interrupted", "crashed")
FINISHED_NORMALLY = ("succeeded", "failed")  # the attempt ran every task to an end
_TASK_EVENTS = {
    "task_submitted": TaskState.SUBMITTED,
    "task_done": TaskState.DONE,
    "task_cached": TaskState.CACHED,
    "task_failed": TaskState.FAILED,
    "task_dep_failed": TaskState.DEP_FAILED,
}


# ---- reading the run directory ---------------------------------------------------------------
def load_status(run_dir: Path, now: float | None = None) -> RunStatus:
    """Fold the run directory into a RunStatus; UserError if it is not a run directory."""
    rd = RunDir(Path(run_dir).resolve())
    if not rd.path.is_dir() or not (rd.exists() or rd.journal.is_file()):
        raise UserError(f"{run_dir}: not a run directory (no run.json or {rd.journal.name}; "
                        "`orch run` prints the run directory it creates)")
    warnings: list[str] = []
    meta = _read_json(rd, "run.json", warnings) or {}
    plan = _read_json(rd, "plan.json", warnings) or {}
    try:
        records = list(read_journal(rd.journal))
    except OSError as exc:
        raise UserError(f"{rd.journal}: cannot read the journal ({exc.strerror or exc})") from None
    fold = _Fold()
    for rec in records:
        fold.apply(rec)
    now = time.time() if now is None else now
    attempts = fold.attempts + _unjournaled_attempt(meta, fold.attempts)
    state = _run_state(attempts, fold.last_ts)
    tasks = _final_tasks(fold, plan, len(attempts), state)
    if state == "running":
        refine_submitted(tasks, plan, rd.path)
    _resolve_logs(rd, tasks)
    first = attempts[0].started if attempts else None
    last = attempts[-1] if attempts else None
    return RunStatus(
        run_dir=rd.path,
        workflow=fold.workflow or plan.get("workflow") or _stem(meta.get("workflow")),
        site=fold.site or plan.get("site") or _stem(meta.get("site")),
        state=state,
        attempts=attempts,
        started=first,
        ended=last.ended if last and state != "running" else None,
        duration=_duration(attempts, now) if attempts else None,
        tasks=tasks,
        stages=_stages(tasks, plan),
        loops=_loops(fold.loops, plan, tasks),
        warnings=warnings,
        driver=holder(rd.path) if state == "running" else None,
        plan_stages=[s for s in plan.get("stages") or [] if isinstance(s, dict) and s.get("name")],
        capacity={str(p.get("pool")): float(p.get("nodes") or 1)
                  for p in plan.get("pools") or [] if isinstance(p, dict)},
    )


def _read_json(rd: RunDir, name: str, warnings: list[str]) -> dict[str, Any] | None:
    path = rd.path / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.append(f"{name} is unreadable ({exc}); ignored")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{name} is not a JSON object; ignored")
        return None
    return data


def _stem(path: Any) -> str | None:
    return Path(path).stem if isinstance(path, str) and path else None


# ---- folding the journal ---------------------------------------------------------------------
class _Fold:
    """Applies journal records in order."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskStatus] = {}
        self.attempts: list[Attempt] = []
        self.loops: dict[str, LoopStatus] = {}
        self.loop_attempt: dict[str, int] = {}
        self.workflow: str | None = None
        self.site: str | None = None
        self.last_ts: float | None = None

    def apply(self, rec: dict[str, Any]) -> None:
        ev = rec.get("ev")
        ts = rec.get("ts")
        if isinstance(ts, int | float):
            self.last_ts = float(ts)
        if ev == "run_started":
            self._run_started(rec)
        elif ev == "run_finished" and self.attempts:
            a = self.attempts[-1]
            a.state = str(rec.get("state") or "crashed")
            a.ended = self.last_ts
            a.seconds = _number(rec.get("seconds"))
        elif ev in _TASK_EVENTS and isinstance(rec.get("task"), str):
            self._task(_TASK_EVENTS[ev], rec)
        elif ev in ("loop_iteration", "loop_finished") and isinstance(rec.get("loop"), str):
            self._loop(ev, rec)

    def _run_started(self, rec: dict[str, Any]) -> None:
        self.workflow = rec.get("workflow") or self.workflow
        self.site = rec.get("site") or self.site
        pid = rec.get("pid")
        self.attempts.append(Attempt(len(self.attempts) + 1, self.last_ts or 0.0,
                                     pid if isinstance(pid, int) else None,
                                     bool(rec.get("resume"))))

    def _task(self, state: TaskState, rec: dict[str, Any]) -> None:
        tid = rec["task"]
        prev = self.tasks.get(tid)
        t = TaskStatus(id=tid, stage=str(rec.get("stage") or tid.split("[")[0].split("@")[0]),
                       state=state, attempts=rec.get("attempts"), result=rec.get("result"),
                       started=_number(rec.get("started")), ended=_number(rec.get("ended")),
                       error=rec.get("error"), iteration=rec.get("iteration"),
                       loop=rec.get("loop"), index=rec.get("index"), host=rec.get("host"),
                       run_attempt=len(self.attempts), exit_code=_int(rec.get("exit_code")),
                       signal=_text(rec.get("signal")), stderr_tail=_text(rec.get("stderr_tail")))
        if state is TaskState.CACHED and prev is not None and prev.state in (
                TaskState.DONE, TaskState.CACHED):
            t.started = t.started if t.started is not None else prev.started
            t.ended = t.ended if t.ended is not None else prev.ended
            t.host = t.host or prev.host
            t.attempts = t.attempts if t.attempts is not None else prev.attempts
        if state is TaskState.SUBMITTED:
            t.submitted = self.last_ts
        t.pid = _int(rec.get("pid"))
        t.stdout, t.stderr = rec.get("stdout"), rec.get("stderr")  # resolved by _logs
        self.tasks[tid] = t

    def _loop(self, ev: str, rec: dict[str, Any]) -> None:
        name = rec["loop"]
        attempt = len(self.attempts)
        loop = self.loops.get(name)
        if loop is None or self.loop_attempt.get(name) != attempt:
            loop = self.loops[name] = LoopStatus(name)  # a resumed run re-runs its loops
            self.loop_attempt[name] = attempt
        if ev == "loop_iteration":
            k = rec.get("iteration")
            loop.iterations = [i for i in loop.iterations if i.iteration != k]
            loop.iterations.append(LoopIteration(k, rec.get("value"), rec.get("met"),
                                                 rec.get("metric"), rec.get("op"),
                                                 rec.get("threshold")))
            loop.iterations.sort(key=lambda i: i.iteration if isinstance(i.iteration, int) else 0)
        else:
            loop.reason = rec.get("reason")
            loop.error = rec.get("error")
            if isinstance(rec.get("iterations"), int):
                loop.count = rec["iterations"]


def _resolve_logs(rd: RunDir, tasks: list[TaskStatus]) -> None:
    """Log paths that exist: in this run directory (it may have moved), else as journaled."""
    base = rd.path / "tasks"
    try:
        present = set(os.listdir(base))
    except OSError:
        present = set()
    for t in tasks:
        if t.state is TaskState.PENDING:
            continue
        name = task_dirname(t.id)
        here = os.path.join(base, name) if name in present else None
        for log in ("stdout", "stderr"):
            path = os.path.join(here, log) if here else None
            if path and os.path.isfile(path):
                setattr(t, log, path)
            elif not (isinstance(recorded := getattr(t, log), str) and os.path.isfile(recorded)):
                setattr(t, log, None)


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


# ---- run state -------------------------------------------------------------------------------
def _unjournaled_attempt(meta: dict[str, Any], journaled: list[Attempt]) -> list[Attempt]:
    """An attempt run.json lists but the journal has no run_started for (yet): one starting
    now, or one that died first. Counted if it is the only one, or while its process lives."""
    listed = [a for a in meta.get("attempts") or []
              if isinstance(a, dict) and isinstance(a.get("started"), int | float)]
    if len(listed) <= len(journaled):
        return []
    a = listed[-1]
    pid = a.get("pid") if isinstance(a.get("pid"), int) else None
    attempt = Attempt(len(journaled) + 1, float(a["started"]), pid, bool(journaled))
    if journaled and not (pid is not None and pid_alive(pid, since=attempt.started)):
        return []
    return [attempt]


def _run_state(attempts: list[Attempt], last_ts: float | None) -> str:
    """The last attempt's state; unfinished means running if its process lives, else crashed."""
    if not attempts:
        return "crashed"
    last = attempts[-1]
    if last.ended is None:
        if last.pid is not None and pid_alive(last.pid, since=last.started):
            last.state = "running"
        else:
            last.state = "crashed"
            last.ended = last_ts if last_ts and last_ts >= last.started else last.started
    return last.state


def _duration(attempts: list[Attempt], now: float) -> float:
    """Seconds spent running, summed over attempts (time between attempts is not counted)."""
    total = 0.0
    for a in attempts:
        if a.seconds is not None:
            total += a.seconds
        else:
            end = a.ended if a.ended is not None else now
            total += max(0.0, end - a.started)
    return round(total, 3)


# ---- tasks, stages, loops --------------------------------------------------------------------
def _final_tasks(fold: _Fold, plan: dict[str, Any], latest: int,
                 state: str) -> list[TaskStatus]:
    tasks = list(fold.tasks.values())
    if state in FINISHED_NORMALLY and latest:
        # The last attempt settled every task of its plan; older leftovers (a loop that
        # now stops earlier, a sweep made smaller by --set) are not part of the run.
        tasks = [t for t in tasks if t.run_attempt == latest]
    for t in tasks:
        if t.state is TaskState.SUBMITTED and not (state == "running"
                                                   and t.run_attempt == latest):
            t.state = TaskState.CANCELLED
    seen_loop_tasks = {tid.rpartition("@")[0] for tid in fold.tasks if "@" in tid}
    for i, p in enumerate(plan.get("tasks") or []):
        if not isinstance(p, dict) or not isinstance(p.get("id"), str):
            continue
        tid = p["id"]
        if tid in fold.tasks or (p.get("loop") and tid in seen_loop_tasks):
            continue
        tasks.append(TaskStatus(id=tid, stage=str(p.get("stage") or tid), state=TaskState.PENDING,
                                loop=p.get("loop"), index=i))
    return sorted(tasks, key=_order(plan, tasks))


def _order(plan: dict[str, Any], tasks: list[TaskStatus]):
    """Plan order: stage by stage; a loop's tasks iteration by iteration, pending ones last."""
    pos: dict[str, int] = {}
    for s in plan.get("stages") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            pos.setdefault(s["name"], len(pos))
    for t in tasks:
        pos.setdefault(t.stage, len(pos))
    group: dict[str, int] = {}
    for t in tasks:
        if t.loop:
            group[t.loop] = min(group.get(t.loop, pos[t.stage]), pos[t.stage])

    def key(t: TaskStatus) -> tuple:
        it = t.iteration if isinstance(t.iteration, int) else 1 << 30
        idx = t.index if isinstance(t.index, int) else -1
        if t.loop:
            return (group[t.loop], it, pos[t.stage], idx, t.id)
        return (pos[t.stage], 0, pos[t.stage], idx, t.id)

    return key


def _stages(tasks: list[TaskStatus], plan: dict[str, Any]) -> list[StageStatus]:
    stages: dict[str, StageStatus] = {}
    for s in plan.get("stages") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            stages[s["name"]] = StageStatus(s["name"], count_states([]), s.get("loop"))
    for t in tasks:
        stage = stages.get(t.stage)
        if stage is None:
            stage = stages[t.stage] = StageStatus(t.stage, count_states([]), t.loop)
        stage.counts[t.state.value] += 1
    return list(stages.values())


def _loops(found: dict[str, LoopStatus], plan: dict[str, Any],
           tasks: list[TaskStatus]) -> list[LoopStatus]:
    out: dict[str, LoopStatus] = {}
    for p in plan.get("loops") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            continue
        loop = found.get(p["name"]) or LoopStatus(p["name"])
        loop.max_iterations = p.get("max_iterations")
        loop.until = p.get("until")
        out[loop.name] = loop
    for name, loop in found.items():
        out.setdefault(name, loop)
    for loop in out.values():
        seen = [t.iteration for t in tasks if t.loop == loop.name and isinstance(t.iteration, int)]
        loop.count = max(loop.count, len(loop.iterations), *seen, 0)
    return list(out.values())


# ---- the JSON contract (docs/status-json.md) -------------------------------------------------
