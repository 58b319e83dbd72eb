"""A large run's tasks as columns (NumPy arrays), not 10^6 `TaskStatus` objects.

`orch status` and `orch report` of a 10^6-task run count states, stages and durations
over arrays; only the tasks a view shows (the first rows, the failures, a sample) become
`TaskStatus` objects, one by one, when indexed. The table is a read-only `Sequence` of
`TaskStatus`, so a view that iterates it still sees every task (slowly, as before).

Each field is a typed column with a sentinel for None; a value the column cannot hold
exactly (a non-int `attempts`, a bool, a string index) goes to a per-field `odd` dict
(row -> value) that wins over the column, so a task comes back exactly as it went in.
Task ids are not stored where they are `stage[k]` (a sweep's ids: column `idk`); the
others are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from orchestrator.state.states import TaskState
from orchestrator.state.status_model import TaskStatus
from orchestrator.state.table_columns import (
    KEY_DTYPE,
    NO_KEY,
    NONE_INT,
    coded_col,
    float_col,
    freeze_col,
    hex_key,
    int_col,
    int_ok,
    thaw_col,
    with_nones,
)

STATES = tuple(TaskState)
STATE_CODE = {s: i for i, s in enumerate(STATES)}
INT_FIELDS = ("index", "attempts", "iteration", "exit_code", "run_attempt", "pid")
# plus column "idk": k of an id `stage[k]` (NONE_INT where the id is stored in odd["id"])
FLOAT_FIELDS = ("started", "ended", "submitted")
CODED_FIELDS = ("stage", "loop", "host")  # strings with few distinct values
SPARSE_FIELDS = ("result", "error", "stdout", "stderr", "signal", "stderr_tail")
_FIELDS = tuple(f.name for f in dataclasses.fields(TaskStatus))


class TaskTable(Sequence):
    """Columns `state` (uint8 codes of STATES), INT_FIELDS (int64, NONE_INT for None),
    FLOAT_FIELDS (float64, NaN for None), CODED_FIELDS (int32 codes into `names[field]`,
    -1 for None); SPARSE_FIELDS and unusual values in `odd[field]`; ids not `stage[index]`
    in `odd["id"]`."""

    def __init__(self, cols: dict[str, np.ndarray], names: dict[str, list[str]],
                 odd: dict[str, dict[int, Any]]) -> None:
        self.cols, self.names, self.odd = cols, names, odd
        self.notes: list[dict[str, Any]] | None = None
        """The journal's NOTE_EVENTS records (JournalFold.notes), set by status.py."""
        self.log_dirs: tuple[str, set[str]] | None = None
        """(tasks directory, names in it): the logs of tasks without journaled ones that
        status._resolve_logs would give (stdout/stderr in their task directory)."""

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def from_tasks(cls, tasks: Iterable[TaskStatus],
                   extras: dict[str, tuple] | None = None) -> TaskTable:
        """`extras`: JournalFold.extras, kept beside the tasks (columns `key`, `has_key`,
        `xpid`; odd `key` and `devices`): see `extras()`."""
        tasks = tasks if isinstance(tasks, list) else list(tasks)
        odd: dict[str, dict[int, Any]] = {f: {} for f in ("id", "state", *INT_FIELDS,
                                                         *FLOAT_FIELDS, *CODED_FIELDS,
                                                         *SPARSE_FIELDS, "key", "devices",
                                                         "xpid")}
        names: dict[str, list[str]] = {}
        cols = {"state": np.array([STATE_CODE[t.state] for t in tasks], dtype=np.uint8)}
        for f in INT_FIELDS:
            cols[f] = int_col([getattr(t, f) for t in tasks], odd[f])
        for f in FLOAT_FIELDS:
            cols[f] = float_col([getattr(t, f) for t in tasks], odd[f])
        for f in CODED_FIELDS:
            cols[f], names[f] = coded_col([getattr(t, f) for t in tasks], odd[f])
        for f in SPARSE_FIELDS:
            odd[f] = {r: v for r, t in enumerate(tasks) if (v := getattr(t, f)) is not None}
        idk = [_id_k(t.id, t.stage, t.index) for t in tasks]
        odd["id"] = {r: tasks[r].id for r, k in enumerate(idk) if k is None}
        cols["idk"] = np.array([NONE_INT if k is None else k for k in idk], dtype=np.int64)
        extras = extras or {}
        found = [extras.get(t.id) or (None, None, None) for t in tasks]
        raws = [hex_key(x[0]) for x in found]
        odd["key"] = {r: x[0] for r, (x, raw) in enumerate(zip(found, raws, strict=True))
                      if x[0] is not None and raw is None}
        cols["key"] = np.frombuffer(b"".join(raw or NO_KEY for raw in raws) or b"",
                                    dtype=KEY_DTYPE).copy()
        cols["has_key"] = np.array([raw is not None for raw in raws], dtype=np.uint8)
        cols["xpid"] = int_col([x[1] for x in found], odd["xpid"])
        odd["devices"] = {r: x[2] for r, x in enumerate(found) if x[2]}
        return cls(cols, names, odd)

    def with_pending(self, stage: str, ks: np.ndarray, offset: int,
                     loop: str | None) -> TaskTable:
        """This table plus PENDING tasks `stage[k]` for each k of `ks` (a swept stage at
        `offset` in plan order: their index is offset + k, as status._final_tasks gives)."""
        indexes = ks + offset
        n, k = len(self), len(indexes)
        cols = {}
        for f, col in self.cols.items():
            if f in ("key", "has_key"):
                cols[f] = np.concatenate([col, np.zeros(k, dtype=col.dtype)])
                continue
            fill = (STATE_CODE[TaskState.PENDING] if f == "state" else NONE_INT
                    if f in (*INT_FIELDS, "idk", "xpid") else np.nan if f in FLOAT_FIELDS
                    else -1)
            cols[f] = np.concatenate([col, np.full(k, fill, dtype=col.dtype)])
        names = {f: list(v) for f, v in self.names.items()}
        cols["index"][n:] = indexes
        cols["idk"][n:] = ks
        cols["stage"][n:] = _code(names["stage"], stage)
        if loop is not None:
            cols["loop"][n:] = _code(names["loop"], loop)
        cols["run_attempt"][n:] = 0
        out = TaskTable(cols, names, {f: dict(d) for f, d in self.odd.items()})
        out.log_dirs = self.log_dirs
        return out

    def take(self, rows: np.ndarray) -> TaskTable:
        """The tasks at `rows` (an index array), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = {f: c[rows] for f, c in self.cols.items()}
        where = np.full(len(self), -1, dtype=np.int64)
        where[rows] = np.arange(len(rows))
        odd = {}
        for f, d in self.odd.items():
            new = {}
            for r, v in d.items():
                to = int(where[r])
                if to >= 0:
                    new[to] = v
            odd[f] = new
        out = TaskTable(cols, self.names, odd)
        out.log_dirs = self.log_dirs
        return out

    def concat(self, other: TaskTable) -> TaskTable:
        """This table's tasks, then `other`'s (its coded fields recoded to these names)."""
        n = len(self)
        names = {f: list(v) for f, v in self.names.items()}
        cols = {}
        for f, col in self.cols.items():
            theirs = other.cols[f]
            if f in CODED_FIELDS and len(theirs):
                table = np.array([_code(names[f], x) for x in other.names[f]] or [0],
                                 dtype=np.int32)
                theirs = np.where(theirs < 0, -1, table[np.maximum(theirs, 0)])
            cols[f] = np.concatenate([col, theirs.astype(col.dtype)])
        odd = {f: {**d, **{r + n: v for r, v in other.odd[f].items()}}
               for f, d in self.odd.items()}
        out = TaskTable(cols, names, odd)
        out.log_dirs = self.log_dirs
        return out

    def merged(self, later: dict[str, TaskStatus],
               later_extras: dict[str, tuple] | None = None) -> TaskTable:
        """This table with the tasks folded after it (journal_fold's `tasks` of the journal
        after the index) in place of their earlier rows; a `task_cached` keeps the timing of
        the done task it stands for, as JournalFold does."""
        if not later:
            return self
        found = self._rows_of(later.values())
        keep = np.ones(len(self), dtype=bool)
        done = (STATE_CODE[TaskState.DONE], STATE_CODE[TaskState.CACHED])
        extras = dict(later_extras or {})
        for t, r in zip(later.values(), found, strict=True):
            if r < 0:
                continue
            keep[r] = False
            old, new = self._extra(r), extras.get(t.id) or (None, None, None)
            extras[t.id] = tuple(b if b is not None else a for a, b in zip(old, new, strict=True))
            if t.state is TaskState.CACHED and self.cols["state"][r] in done:
                prev = self.task(r)
                t.started = t.started if t.started is not None else prev.started
                t.ended = t.ended if t.ended is not None else prev.ended
                t.host = t.host or prev.host
                t.attempts = t.attempts if t.attempts is not None else prev.attempts
        return self.take(np.flatnonzero(keep)).concat(TaskTable.from_tasks(later.values(),
                                                                            extras))

    def _rows_of(self, tasks: Iterable[TaskStatus]) -> list[int]:
        """Each task's row here by id, -1 where it has none."""
        by_id = {tid: r for r, tid in self.odd["id"].items()}
        stage_code = {name: c for c, name in enumerate(self.names["stage"])}
        compact = self.cols["idk"] != NONE_INT
        rows = np.flatnonzero(compact)
        keys = (self.cols["stage"][rows].astype(np.int64) << 40) + self.cols["idk"][rows]
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        out = []
        for t in tasks:
            r = by_id.get(t.id, -1)
            k, c = _id_k(t.id, t.stage, t.index), stage_code.get(t.stage)
            if r < 0 and k is not None and c is not None and k < 1 << 40:
                key = (c << 40) + k
                at = int(np.searchsorted(keys, key))
                if at < len(keys) and keys[at] == key:
                    r = int(rows[at])
            out.append(r)
        return out

    # ---- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.cols["state"])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.task(r) for r in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self.task(i)

    def __iter__(self) -> Iterator[TaskStatus]:
        for lo in range(0, len(self), _CHUNK):
            yield from self._tasks(lo, min(len(self), lo + _CHUNK))

    def _tasks(self, lo: int, hi: int) -> list[TaskStatus]:
        """Rows lo..hi as TaskStatus objects, column by column (a few times task()'s speed)."""
        cols, odd, n = self.cols, self.odd, hi - lo
        v: dict[str, list] = {"state": [STATES[c] for c in cols["state"][lo:hi].tolist()]}
        for f in INT_FIELDS:
            v[f] = with_nones(cols[f][lo:hi].tolist(), NONE_INT, odd[f], lo)
        for f in FLOAT_FIELDS:
            col = cols[f][lo:hi]
            v[f] = with_nones(np.where(np.isnan(col), None, col).tolist(), None, odd[f], lo)
        for f in CODED_FIELDS:
            names = [*self.names[f], None]
            v[f] = with_nones([names[c] for c in cols[f][lo:hi].tolist()], None, odd[f], lo)
        for f in SPARSE_FIELDS:
            d = odd[f]
            v[f] = [d.get(r) for r in range(lo, hi)] if d else [None] * n
        ids = odd["id"]
        v["id"] = [f"{st}[{k}]" if k != NONE_INT else ids[lo + j] for j, (st, k)
                   in enumerate(zip(v["stage"], cols["idk"][lo:hi].tolist(), strict=True))]
        if self.log_dirs is not None and self.log_dirs[1]:
            for j in range(n):  # task() derives these
                if v["state"][j] not in LOGS_SHOWN and v["state"][j] is not PENDING \
                        and lo + j not in odd["stdout"] and lo + j not in odd["stderr"]:
                    t = self.task(lo + j)
                    v["stdout"][j], v["stderr"][j] = t.stdout, t.stderr
        fields = [v[f] for f in _FIELDS]
        return [TaskStatus(*row) for row in zip(*fields, strict=True)]

    def task(self, r: int) -> TaskStatus:
        """Row `r` as a TaskStatus."""
        cols, odd = self.cols, self.odd
        v: dict[str, Any] = {"state": STATES[cols["state"][r]]}
        for f in INT_FIELDS:
            x = int(cols[f][r])
            v[f] = odd[f].get(r) if x == NONE_INT else x
        for f in FLOAT_FIELDS:
            x = float(cols[f][r])
            v[f] = odd[f].get(r) if x != x else x
        for f in CODED_FIELDS:
            c = int(cols[f][r])
            v[f] = odd[f].get(r) if c < 0 else self.names[f][c]
        for f in SPARSE_FIELDS:
            v[f] = odd[f].get(r)
        tid = odd["id"].get(r)
        v["id"] = tid if tid is not None else f"{v['stage']}[{int(cols['idk'][r])}]"
        if self.log_dirs is not None and r not in odd["stdout"] and r not in odd["stderr"]:
            base, present = self.log_dirs
            if present and v["state"] not in LOGS_SHOWN and v["state"] is not PENDING:
                from orchestrator.state.rundir import task_dirname

                name = task_dirname(v["id"])
                if name in present:
                    v["stdout"] = f"{base}/{name}/stdout"
                    v["stderr"] = f"{base}/{name}/stderr"
        return TaskStatus(**v)

    def _extra(self, r: int) -> tuple:
        c, odd = self.cols, self.odd
        key = c["key"][r].tobytes().hex() if c["has_key"][r] else odd["key"].get(r)
        pid = int(c["xpid"][r])
        return (key, odd["xpid"].get(r) if pid == NONE_INT else pid, odd["devices"].get(r))

    def objects(self) -> TaskObjects:
        """Every task as an object, once (a view that walks them all, several times)."""
        return TaskObjects(self)

    def extras(self) -> dict[str, tuple]:
        """{task id: (code key, worker pid, device mask)} of the tasks that have any (what
        JournalFold.extras held for them)."""
        c, odd = self.cols, self.odd
        rows = np.flatnonzero(c["has_key"].astype(bool) | (c["xpid"] != NONE_INT))
        rows = np.union1d(rows, np.fromiter((*odd["key"], *odd["xpid"], *odd["devices"]),
                                            dtype=np.int64))
        hexed = c["key"][rows].tobytes().hex()
        names = [*self.names["stage"], None]
        okey, opid, odev = odd["key"], odd["xpid"], odd["devices"]
        out = {}
        for j, (r, st, k, h, p) in enumerate(zip(
                rows.tolist(), c["stage"][rows].tolist(), c["idk"][rows].tolist(),
                c["has_key"][rows].tolist(), c["xpid"][rows].tolist(), strict=True)):
            tid = f"{names[st]}[{k}]" if k != NONE_INT and st >= 0 else self.task(r).id
            out[tid] = (hexed[j * 64:j * 64 + 64] if h else okey.get(r),
                        opid.get(r) if p == NONE_INT else p, odev.get(r) if odev else None)
        return out

    def rows(self, *states: TaskState) -> np.ndarray:
        """Row numbers of the tasks in any of `states`, in table order."""
        codes = [STATE_CODE[s] for s in states]
        return np.flatnonzero(np.isin(self.cols["state"], codes))

    def counts(self) -> dict[str, int]:
        """{state: tasks} over every TaskState (count_states' shape)."""
        n = np.bincount(self.cols["state"], minlength=len(STATES))
        return {s.value: int(n[i]) for i, s in enumerate(STATES)}

    def stage_counts(self) -> dict[int, np.ndarray]:
        """{stage code: task count per state code}."""
        stage, state = self.cols["stage"], self.cols["state"]
        k = len(STATES)
        flat = np.bincount((stage.astype(np.int64) + 1) * k + state,
                           minlength=(len(self.names["stage"]) + 1) * k)
        per = flat.reshape(-1, k)
        return {c - 1: per[c] for c in range(per.shape[0]) if per[c].any()}

    def durations(self) -> np.ndarray:
        """ended - started, at least 0, NaN where either is unknown (float columns only)."""
        return np.maximum(0.0, self.cols["ended"] - self.cols["started"])

    # ---- storing (journal_index.py) --------------------------------------------------------
    def freeze(self) -> dict[str, Any]:
        """Builtin values for marshal: each column as bytes, a column of one value as that
        value, an int64 column that fits as int32 (half the index to read)."""
        return {"n": len(self), "cols": {f: freeze_col(c) for f, c in self.cols.items()},
                "names": self.names, "odd": self.odd}

    @classmethod
    def thaw(cls, data: dict[str, Any]) -> TaskTable:
        n = data["n"]
        cols = {f: thaw_col(n, *c) for f, c in data["cols"].items()}
        return cls(cols, {f: list(v) for f, v in data["names"].items()},
                   {f: dict(d) for f, d in data["odd"].items()})


class TaskObjects(list):
    """A table's tasks as a list of objects that still counts with the table's arrays."""

    def __init__(self, table: TaskTable) -> None:
        super().__init__(table)
        self.table = table

    def counts(self) -> dict[str, int]:
        return self.table.counts()

    def rows(self, *states: TaskState) -> np.ndarray:
        return self.table.rows(*states)

    def task(self, r: int) -> TaskStatus:
        return self[r]


_CHUNK = 1 << 16
LOGS_SHOWN = (TaskState.FAILED, TaskState.DEP_FAILED, TaskState.CANCELLED)
PENDING = TaskState.PENDING


def _id_k(tid: str, stage: Any, index: Any) -> int | None:
    """k where `tid` is exactly f"{stage}[{k}]" (k = index, the usual case), else None."""
    if int_ok(index) and tid == f"{stage}[{index}]":
        return index
    if isinstance(stage, str) and tid.startswith(stage + "[") and tid.endswith("]"):
        k = tid[len(stage) + 1:-1]
        if k.isdigit() and tid == f"{stage}[{int(k)}]":
            return int(k)
    return None


def _code(names: list[str], value: str) -> int:
    try:
        return names.index(value)
    except ValueError:
        names.append(value)
        return len(names) - 1
