"""The report's reads of a large run's task table (state/task_table.py) without one object
per task: which tables it reads as columns, stage order, task ids of given rows, a task's
row by id, and whether any task was timed. Sections build objects only for the tasks they
show (samples, failures, lineage rows).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.table_columns import NONE_INT
from orchestrator.state.task_table import STATE_CODE, TaskTable

SUCCESS_CODES = [STATE_CODE[s] for s in SUCCESS_STATES]
PLAIN_FIELDS = ("started", "ended", "stage", "loop", "iteration", "host")


def plain(table: TaskTable) -> bool:
    """True when the fields the report groups and times by are all plain column values
    (no value set aside in `odd`, every task in a stage) and the journal's notes and extras
    came with the table; else the report walks objects, as for a small run."""
    return (table.notes is not None and not any(table.odd[f] for f in PLAIN_FIELDS)
            and not (table.cols["stage"] < 0).any())


def stage_order(table: TaskTable, first: Iterable[str]) -> list[str]:
    """`first` (the status's stages), then the table's other stages by first appearance."""
    out = list(first)
    seen = set(out)
    codes, at = np.unique(table.cols["stage"], return_index=True)
    for c in codes[np.argsort(at, kind="stable")].tolist():
        name = table.names["stage"][c]
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def stage_rows(table: TaskTable, stage: str) -> np.ndarray:
    """Rows of the stage's tasks, in table order."""
    names = table.names["stage"]
    if stage not in names:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(table.cols["stage"] == names.index(stage))


def task_ids(table: TaskTable, rows: Iterable[int]) -> list[str]:
    """The ids of the tasks at `rows` (TaskTable.task(r).id without making the task)."""
    c, names, odd = table.cols, table.names["stage"], table.odd["id"]
    stage, idk = c["stage"], c["idk"]
    out = []
    for r in rows:
        tid = odd.get(r)
        out.append(tid if tid is not None else f"{names[stage[r]]}[{int(idk[r])}]")
    return out


def timed(table: TaskTable) -> bool:
    """Any done or cached task with both times."""
    c = table.cols
    return bool((np.isin(c["state"], SUCCESS_CODES) & ~np.isnan(c["started"])
                 & ~np.isnan(c["ended"])).any())


class RowsById:
    """A task's row by its id (-1 if none); `tid in this` as in a set of every task id."""

    def __init__(self, table: TaskTable) -> None:
        c = table.cols
        self.odd = {tid: r for r, tid in table.odd["id"].items()}
        self.codes = {name: k for k, name in enumerate(table.names["stage"])}
        rows = np.flatnonzero(c["idk"] != NONE_INT)
        keys = (c["stage"][rows].astype(np.int64) << 40) + c["idk"][rows]
        order = np.argsort(keys, kind="stable")
        self.keys, self.rows = keys[order], rows[order]

    def row(self, tid: str) -> int:
        r = self.odd.get(tid)
        if r is not None:
            return r
        at = tid.rfind("[")
        if at < 0 or not tid.endswith("]"):
            return -1
        k, code = tid[at + 1:-1], self.codes.get(tid[:at])
        if code is None or not k.isdigit() or str(int(k)) != k or int(k) >= 1 << 40:
            return -1
        key = (code << 40) + int(k)
        i = int(np.searchsorted(self.keys, key))
        return int(self.rows[i]) if i < len(self.keys) and self.keys[i] == key else -1

    def __contains__(self, tid: object) -> bool:
        return isinstance(tid, str) and self.row(tid) >= 0
