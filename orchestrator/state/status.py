"""What happened in a run, folded from its run directory alone (`orch status`).

`load_status` reads `journal.jsonl` (the truth), `plan.json` (tasks never
journaled are `pending`; a large one's head only: plan_head.py) and `run.json`; it never
imports Parsl and writes nothing but a large journal's derived index (journal_index.py,
through which the journal is folded by journal_fold.py). The run's state comes from
run_state.py; here the fold becomes tasks (plan order), stages and loops. A task last
seen as `submitted` is `cancelled` unless the attempt that submitted it is still
running. See docs/status-json.md for the JSON view of the result.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.state import status_columns as columns
from orchestrator.state.journal_fold import JournalFold
from orchestrator.state.journal_index import fold_journal
from orchestrator.state.live import refine_submitted
from orchestrator.state.lock import holder
from orchestrator.state.plan_head import plan_tasks, read_plan_head
from orchestrator.state.run_state import (
    FINISHED_NORMALLY,
    duration,
    run_state,
    unjournaled_attempt,
)
from orchestrator.state.rundir import RunDir, task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import (
    LoopStatus,
    RunStatus,
    StageStatus,
    TaskStatus,
    count_states,
    plan_loops,
)
from orchestrator.state.task_table import TaskTable

LOGS_CHECKED = 100_000
COLUMNAR_MIN = LOGS_CHECKED  # columns only where _resolve_logs checks failed tasks alone
_LOGS_SHOWN = (TaskState.FAILED, TaskState.DEP_FAILED, TaskState.CANCELLED)


# ---- reading the run directory ---------------------------------------------------------------
def load_status(run_dir: Path, now: float | None = None) -> RunStatus:
    """Fold the run directory into a RunStatus; UserError if it is not a run directory."""
    rd = RunDir(Path(run_dir).resolve())
    if not rd.path.is_dir() or not (rd.exists() or rd.journal.is_file()):
        raise UserError(f"{run_dir}: not a run directory (no run.json or {rd.journal.name}; "
                        "`orch run` prints the run directory it creates)")
    warnings: list[str] = []
    meta = _read_json(rd, "run.json", warnings) or {}
    plan = read_plan_head(rd.path / "plan.json", warnings)
    try:
        fold = fold_journal(rd.journal, columnar=True)
    except OSError as exc:
        raise UserError(f"{rd.journal}: cannot read the journal ({exc.strerror or exc})") from None
    now = time.time() if now is None else now
    attempts = fold.attempts + unjournaled_attempt(meta, fold.attempts)
    state = run_state(attempts, fold.last_ts)
    if state == "crashed" and attempts and attempts[-1].ended is not None \
            and holder(rd.path) is not None:
        # its process is not on this host (a driver inside a batch job, `orch submit`), but
        # it holds the run's lock: it is running
        attempts[-1].state, attempts[-1].ended, state = "running", None, "running"
    if state == "running" and "tasks" not in plan and _planned(plan) <= LOGS_CHECKED:
        # the live states read per-task needs (waiting or queued); past LOGS_CHECKED tasks
        # not every refresh parses hundreds of MB: submitted tasks then count as queued
        plan = _read_json(rd, "plan.json", warnings) or {}
    if _columnar(fold, state):
        tasks = columns.final_table(fold, plan, len(attempts), state)
        if len(tasks) <= LOGS_CHECKED:  # every task's logs are checked: as objects
            tasks = list(tasks)
    else:
        fold.task_dict()
        tasks = _final_tasks(fold, plan, len(attempts), state)
        if state == "running":
            refine_submitted(tasks, plan, rd.path)
    if isinstance(tasks, TaskTable):
        tasks.notes = fold.notes
        columns.resolve_logs(rd, tasks)
        stages, loops = columns.stages(tasks, plan), columns.loops(fold.loops, plan, tasks)
    else:
        _resolve_logs(rd, tasks)
        stages, loops = _stages(tasks, plan), _loops(fold.loops, plan, tasks)
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
        duration=duration(attempts, now) if attempts else None,
        tasks=tasks,
        stages=stages,
        loops=loops,
        warnings=warnings,
        driver=holder(rd.path) if state == "running" else None,
        plan_stages=[s for s in plan.get("stages") or [] if isinstance(s, dict) and s.get("name")],
        capacity={str(p.get("pool")): float(p.get("nodes") or 1)
                  for p in plan.get("pools") or [] if isinstance(p, dict)},
    )


def _columnar(fold: JournalFold, state: str) -> bool:
    """Columns (status_columns.py) for a finished run past COLUMNAR_MIN tasks; a live one
    is refined task by task (live.py), a small one keeps its objects."""
    n = len(fold.table) if fold.table is not None else len(fold.tasks)
    if state == "running" or n < COLUMNAR_MIN:
        return False
    if fold.table is None:
        fold.table = TaskTable.from_tasks(fold.tasks.values(), fold.extras)
        fold.tasks, fold.extras = {}, {}
    return True


def _planned(plan: dict[str, Any]) -> int:
    return sum(s.get("tasks") or 0 for s in plan.get("stages") or [] if isinstance(s, dict))


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


def _resolve_logs(rd: RunDir, tasks: list[TaskStatus]) -> None:
    """Log paths that exist: in this run directory (it may have moved), else as journaled.
    Past LOGS_CHECKED tasks only failed ones are checked file by file (two stats a task
    would cost seconds); the others get their task directory's logs if it is there."""
    base = rd.path / "tasks"
    try:
        present = set(os.listdir(base))
    except OSError:
        present = set()
    big = len(tasks) > LOGS_CHECKED
    for t in tasks:
        if t.state is TaskState.PENDING:
            continue
        if big and not present and t.state not in _LOGS_SHOWN:
            t.stdout = t.stderr = None
            continue
        name = task_dirname(t.id)
        here = os.path.join(base, name) if name in present else None
        if big and t.state not in _LOGS_SHOWN:
            t.stdout, t.stderr = ((os.path.join(here, "stdout"), os.path.join(here, "stderr"))
                                  if here else (None, None))
            continue
        for log in ("stdout", "stderr"):
            path = os.path.join(here, log) if here else None
            if path and os.path.isfile(path):
                setattr(t, log, path)
            elif not (isinstance(recorded := getattr(t, log), str) and os.path.isfile(recorded)):
                setattr(t, log, None)


# ---- tasks, stages, loops --------------------------------------------------------------------
def _final_tasks(fold: JournalFold, plan: dict[str, Any], latest: int,
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
    journaled = fold.tasks
    for i, tid, stage, loop in plan_tasks(plan):
        if tid in journaled or (loop and tid in seen_loop_tasks):
            continue
        tasks.append(TaskStatus(id=tid, stage=stage, state=TaskState.PENDING, loop=loop, index=i))
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
    out = plan_loops(found, plan)
    for loop in out.values():
        seen = [t.iteration for t in tasks if t.loop == loop.name and isinstance(t.iteration, int)]
        loop.count = max(loop.count, len(loop.iterations), *seen, 0)
    return list(out.values())

