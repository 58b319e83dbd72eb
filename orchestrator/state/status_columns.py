"""status.py's fold-to-status steps (final tasks, logs, stages, loops) over a TaskTable
(task_table.py): what `orch status` of a finished 10^6-task run does with arrays instead
of 10^6 TaskStatus objects. Same results as status.py's object path, which small runs
keep (tests/unit/test_status_columns.py compares the two).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from orchestrator.state.journal_fold import JournalFold
from orchestrator.state.plan_head import plan_tasks
from orchestrator.state.run_state import FINISHED_NORMALLY
from orchestrator.state.rundir import RunDir, task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import LoopStatus, StageStatus, plan_loops
from orchestrator.state.task_table import (
    LOGS_SHOWN,
    NONE_INT,
    STATE_CODE,
    STATES,
    TaskTable,
    _id_k,
)

_BIG_IT = 1 << 30


def final_table(fold: JournalFold, plan: dict[str, Any], latest: int,
                state: str) -> TaskTable:
    """status._final_tasks over columns: this attempt's tasks, submitted ones cancelled
    (the run is not running here), the plan's never-journaled ones pending, plan order."""
    table: TaskTable = fold.table
    cols = table.cols
    if state in FINISHED_NORMALLY and latest:
        mine = cols["run_attempt"] == latest
        if not mine.all():
            table = table.take(np.flatnonzero(mine))
            cols = table.cols
    sub = cols["state"] == STATE_CODE[TaskState.SUBMITTED]
    if state == "running":
        sub &= cols["run_attempt"] != latest
    cols["state"][sub] = STATE_CODE[TaskState.CANCELLED]
    whole = fold.table
    seen_loop = {tid.rpartition("@")[0] for tid in whole.odd["id"].values() if "@" in tid}
    table = _with_pending(table, whole, plan, seen_loop)
    order = _order(table, plan)
    return table if order is None else table.take(order)


def _with_pending(table: TaskTable, whole: TaskTable, plan: dict[str, Any],
                  seen_loop: set[str]) -> TaskTable:
    codes = {name: c for c, name in enumerate(whole.names["stage"])}
    odd_ids = set(whole.odd["id"].values())
    if "tasks" in plan:  # a whole plan.json (older or hand-written): its list, one by one
        extra = [(i, tid, stage, loop) for i, tid, stage, loop in plan_tasks(plan)
                 if not _journaled(whole, codes, odd_ids, tid, stage)
                 and not (loop and tid in seen_loop)]
        return table.concat(TaskTable.from_tasks(_pending(extra))) if extra else table
    i = 0
    for s in plan.get("stages") or []:
        name, count, loop = s["name"], s["tasks"], s.get("loop")
        if s["sweep"]:
            seen = np.zeros(count, dtype=bool)
            c = codes.get(name)
            if c is not None:
                k = whole.cols["idk"][whole.cols["stage"] == c]
                seen[k[(k >= 0) & (k < count)]] = True
            gone = {_id_k(tid, name, None) for tid in odd_ids}
            if loop:
                gone |= {_id_k(tid, name, None) for tid in seen_loop}
            seen[[k for k in gone if k is not None and k < count]] = True
            ks = np.flatnonzero(~seen)
            if len(ks):
                table = table.with_pending(name, ks, i, loop)
        elif count and name not in odd_ids and not (loop and name in seen_loop) \
                and not _journaled(whole, codes, odd_ids, name, name):
            table = table.concat(TaskTable.from_tasks(_pending([(i, name, name, loop)])))
        i += count
    return table


def _journaled(whole: TaskTable, codes: dict[str, int], odd_ids: set[str], tid: str,
               stage: str) -> bool:
    if tid in odd_ids:
        return True
    for c, name in enumerate(whole.names["stage"]):
        k = _id_k(tid, name, None)
        if k is not None and np.any((whole.cols["stage"] == c) & (whole.cols["idk"] == k)):
            return True
    return False


def _pending(entries):
    from orchestrator.state.status_model import TaskStatus

    return [TaskStatus(id=tid, stage=stage, state=TaskState.PENDING, loop=loop, index=i)
            for i, tid, stage, loop in entries]


def _order(table: TaskTable, plan: dict[str, Any]) -> np.ndarray | None:
    """status._order's sort as a lexsort: rows in plan order (a tie falls back to it);
    None when they are in plan order already (a finished sweep's journal usually is)."""
    cols, names = table.cols, table.names
    pos: dict[str, int] = {}
    for s in plan.get("stages") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            pos.setdefault(s["name"], len(pos))
    stage = cols["stage"]
    if (stage < 0).any():
        return _python_order(table, plan)
    codes, first = np.unique(stage, return_index=True)
    for c in codes[np.argsort(first)]:
        pos.setdefault(names["stage"][c], len(pos))
    # a stage name no row has any more (the table's names outlive rows) is never indexed
    stage_pos = np.array([pos.get(n, -1) for n in names["stage"]] or [0],
                         dtype=np.int64)[stage]
    loop = cols["loop"]
    has_loop = loop >= 0
    group = stage_pos.copy()
    if has_loop.any():
        n = len(names["loop"])
        g = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(g, loop[has_loop], stage_pos[has_loop])
        group[has_loop] = g[loop[has_loop]]
    it = cols["iteration"]
    it = np.where(it == NONE_INT, _BIG_IT, it)
    second = np.where(has_loop, it, 0)
    idx = np.where(cols["index"] == NONE_INT, -1, cols["index"])
    if table.odd["loop"] or table.odd["iteration"] or table.odd["index"]:
        return _python_order(table, plan)
    if not has_loop.any() and len(idx) and idx.min() >= -1 and idx.max() < 1 << 40:
        key = (stage_pos << 41) + idx + 1  # one int64 key: (stage position, index)
        step = np.diff(key)
        if (step > 0).all():
            return None
        if not (step == 0).any():
            return np.argsort(key, kind="stable")
    order = np.lexsort((idx, stage_pos, second, group))
    keys = np.stack([group, second, stage_pos, idx])[:, order]
    if len(order) > 1 and (keys[:, 1:] == keys[:, :-1]).all(axis=0).any():
        return _python_order(table, plan)  # equal keys: the id decides, as in status._order
    return order


def _python_order(table: TaskTable, plan: dict[str, Any]) -> np.ndarray:
    from orchestrator.state.status import _order as order_key

    tasks = list(table)
    key = order_key(plan, tasks)
    return np.array(sorted(range(len(tasks)), key=lambda r: key(tasks[r])), dtype=np.int64)


def resolve_logs(rd: RunDir, table: TaskTable) -> None:
    """status._resolve_logs for a run past LOGS_CHECKED tasks: only failed (and not run)
    tasks are checked file by file; the others get their task directory's logs, if it is
    there, when they are made objects (TaskTable.task)."""
    base = rd.path / "tasks"
    try:
        present = set(os.listdir(base))
    except OSError:
        present = set()
    keep = set(table.rows(*LOGS_SHOWN, TaskState.PENDING).tolist())
    for log in ("stdout", "stderr"):
        odd = table.odd[log]
        table.odd[log] = {r: v for r, v in odd.items() if r in keep}
    table.log_dirs = (str(base), present)
    for r in table.rows(*LOGS_SHOWN).tolist():
        t = table.task(r)
        name = task_dirname(t.id)
        here = os.path.join(base, name) if name in present else None
        for log in ("stdout", "stderr"):
            path = os.path.join(here, log) if here else None
            recorded = table.odd[log].get(r)
            if path and os.path.isfile(path):
                table.odd[log][r] = path
            elif not (isinstance(recorded, str) and os.path.isfile(recorded)):
                table.odd[log].pop(r, None)


def stages(table: TaskTable, plan: dict[str, Any]) -> list[StageStatus]:
    """status._stages over columns."""
    out: dict[str, StageStatus] = {}
    blank = {s.value: 0 for s in TaskState}
    for s in plan.get("stages") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            out[s["name"]] = StageStatus(s["name"], dict(blank), s.get("loop"))
    per = table.stage_counts()
    stage = table.cols["stage"]
    codes, first = np.unique(stage, return_index=True)
    for c, r in sorted(zip(codes.tolist(), first.tolist(), strict=True), key=lambda x: x[1]):
        name = table.names["stage"][c]
        if name not in out:
            lc = int(table.cols["loop"][r])
            loop = table.odd["loop"].get(r) if lc < 0 else table.names["loop"][lc]
            out[name] = StageStatus(name, dict(blank), loop)
        counts = out[name].counts
        for k, n in enumerate(per[c].tolist()):
            counts[STATES[k].value] += n
    return list(out.values())


def loops(found: dict[str, LoopStatus], plan: dict[str, Any],
          table: TaskTable) -> list[LoopStatus]:
    """status._loops over columns."""
    out = plan_loops(found, plan)
    lc, it = table.cols["loop"], table.cols["iteration"]
    for loop in out.values():
        seen = 0
        if loop.name in table.names["loop"]:
            mine = (lc == table.names["loop"].index(loop.name)) & (it != NONE_INT)
            seen = int(it[mine].max()) if mine.any() else 0
        seen = max([seen, *(v for r, v in table.odd["iteration"].items()
                            if isinstance(v, int) and _loop_of(table, r) == loop.name)])
        loop.count = max(loop.count, len(loop.iterations), seen, 0)
    return list(out.values())


def _loop_of(table: TaskTable, r: int) -> Any:
    c = int(table.cols["loop"][r])
    return table.odd["loop"].get(r) if c < 0 else table.names["loop"][c]
