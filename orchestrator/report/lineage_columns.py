"""The lineage's task groups (lineage.py) from a task table's columns: the tasks that ran,
outside loops and per loop iteration, the rows each group lists, and each loop's last
iteration, without an object per task; objects are made for the listed rows only."""

from __future__ import annotations

import numpy as np

from orchestrator.state.states import TaskState
from orchestrator.state.status_model import TaskStatus
from orchestrator.state.table_columns import NONE_INT
from orchestrator.state.task_table import STATE_CODE, TaskTable

PENDING = STATE_CODE[TaskState.PENDING]


def groups(table: TaskTable) -> list[tuple[str, np.ndarray]]:
    """lineage._groups: (title, rows in table order) of the tasks outside loops, then of
    each loop's iterations in order (loops by first appearance); pending tasks left out."""
    c = table.cols
    ran = c["state"] != PENDING
    it = c["iteration"]
    out = []
    outside = np.flatnonzero(ran & (it == NONE_INT))
    if len(outside):
        out.append(("not in a loop", outside))
    looped = np.flatnonzero(ran & (it != NONE_INT))
    if not len(looped):
        return out
    names = [n or "?" for n in table.names["loop"]] + ["?"]  # code -1 (None): "?"
    ids = {n: i for i, n in enumerate(dict.fromkeys(names))}
    loop = np.array([ids[n] for n in names], dtype=np.int64)[c["loop"][looped]]
    seen, first = np.unique(loop, return_index=True)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[seen[np.argsort(first, kind="stable")]] = np.arange(len(seen))
    pairs, inv = np.unique(np.stack([rank[loop], it[looped]], axis=1), axis=0,
                           return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    parts = np.split(looped[order], np.cumsum(np.bincount(inv))[:-1])
    canon = list(ids)
    by_rank = {int(rank[i]): canon[i] for i in seen.tolist()}
    for (r, k), rows in zip(pairs.tolist(), parts, strict=True):
        out.append((f"loop {by_rank[r]}, iteration {k}", rows))
    return out


def pick(table: TaskTable, rows: np.ndarray, n: int) -> list[TaskStatus]:
    """lineage._pick: `n` of a group's tasks, each stage in turn (stages in order of first
    appearance, each one's tasks in table order), as objects in table order."""
    if n < len(rows):
        stage = table.cols["stage"][rows]
        _, first, inv = np.unique(stage, return_index=True, return_inverse=True)
        queue = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inv.reshape(-1)]
        by = np.argsort(stage, kind="stable")
        starts = np.searchsorted(stage[by], stage[by], side="left")
        depth = np.empty(len(rows), dtype=np.int64)
        depth[by] = np.arange(len(rows)) - starts
        rows = rows[np.sort(np.lexsort((queue, depth))[:n])]
    return [table.task(r) for r in rows.tolist()]


def last_iterations(table: TaskTable) -> dict[str, int]:
    """lineage.Wiring's `last`: per loop (named) the highest iteration of its tasks, at
    least 0."""
    c = table.cols
    named = np.array([bool(x) for x in table.names["loop"]] + [False])[c["loop"]]
    rows = np.flatnonzero(named & (c["iteration"] != NONE_INT))
    out: dict[str, int] = {}
    for code in np.unique(c["loop"][rows]).tolist():
        top = int(c["iteration"][rows][c["loop"][rows] == code].max())
        out[table.names["loop"][code]] = max(0, top)
    return out
