"""A derived index of a large journal: its fold (journal_fold.py) up to a byte offset, so
that `orch status` and `orch report` of a 10^6-task run read only what was appended since.

The index (`journal.index` beside the journal) is a cache, never the truth: it records
the journal's identity (inode, first bytes, the bytes before its offset) and is ignored
and rebuilt when those differ, when it is unreadable, or when its version is not this
one's. It is written (atomically, best effort: a read-only run directory just goes
without) only for journals of `INDEX_MIN_BYTES` or more, so small runs look as before.
Stored with `marshal` (builtin values only: no code is loaded from it); the tasks as the
byte strings of a TaskTable's columns (task_table.py), so that loading 10^6 tasks is a
copy, not 10^6 objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import os
from pathlib import Path
from typing import Any

from orchestrator.state.journal import _decode
from orchestrator.state.journal_fold import JournalFold
from orchestrator.state.status_model import Attempt, LoopIteration, LoopStatus

INDEX_NAME = "journal.index"
INDEX_VERSION = 3  # 2: tasks as columns (task_table.py); 3: with the report's extras
INDEX_MIN_BYTES = 4 << 20  # about 15,000 task records
_PROBE = 256  # bytes compared at the start and before the offset



def fold_journal(journal: Path, index: bool = True, columnar: bool = False) -> JournalFold:
    """The journal's fold; with `index`, from (and refreshing) its index where valid. With
    `columnar`, a large journal's tasks may come as `fold.table` (a TaskTable) instead of
    `fold.tasks`; without it they are always `fold.tasks`."""
    journal = Path(journal)
    path = journal.with_name(INDEX_NAME)
    fold, offset = (_load(path, journal) if index else None) or (JournalFold(), 0)
    end = _fold_from(journal, fold, offset)
    if fold.table is not None:
        fold.table, fold.tasks = fold.table.merged(fold.tasks, fold.extras), {}
        fold.extras = {}
    # rewritten once the tail it saves reading is a quarter of what it covers: `orch status
    # --watch` of a live run re-reads a short tail, not a new index every refresh
    if index and end >= INDEX_MIN_BYTES and (offset == 0 or end - offset >= offset // 4):
        if fold.table is None:
            from orchestrator.state.task_table import TaskTable  # (NumPy: only here)

            fold.table = TaskTable.from_tasks(fold.tasks.values(), fold.extras)
            fold.tasks, fold.extras = {}, {}
        _save(path, journal, fold, end)
    if not columnar:
        fold.task_dict()
    return fold


def _fold_from(journal: Path, fold: JournalFold, offset: int) -> int:
    """Apply every intact record from `offset`; returns the offset after the last whole
    line (a torn last line is read again next time, when it may be whole)."""
    try:
        with open(journal, "rb") as f:
            f.seek(offset)
            end = offset
            apply = fold.apply
            for line in f:
                if not line.endswith(b"\n"):
                    break
                end += len(line)
                record = _decode(line)
                if record is not None:
                    apply(record)
    except FileNotFoundError:
        return 0
    return end


def _identity(journal: Path, offset: int) -> tuple[int, bytes, bytes] | None:
    try:
        with open(journal, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size < offset:
                return None
            head = f.read(_PROBE)
            f.seek(max(0, offset - _PROBE))
            before = f.read(min(offset, _PROBE))
    except OSError:
        return None
    return st.st_ino, head, before


def _load(path: Path, journal: Path) -> tuple[JournalFold, int] | None:
    try:
        data = marshal.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("v") != INDEX_VERSION:
            return None
        offset = data["offset"]
        if _identity(journal, offset) != (data["ino"], data["head"], data["before"]):
            return None
        return _thaw(data["fold"]), offset
    except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError):
        return None


def _save(path: Path, journal: Path, fold: JournalFold, offset: int) -> None:
    ident = _identity(journal, offset)
    if ident is None:
        return
    data = {"v": INDEX_VERSION, "offset": offset, "ino": ident[0], "head": ident[1],
            "before": ident[2], "fold": _freeze(fold)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(marshal.dumps(data))
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _freeze(fold: JournalFold) -> dict[str, Any]:
    return {"tasks": fold.table.freeze(),
            "attempts": [dataclasses.astuple(a) for a in fold.attempts],
            "loops": [dataclasses.asdict(lp) for lp in fold.loops.values()],
            "loop_attempt": fold.loop_attempt, "workflow": fold.workflow, "site": fold.site,
            "last_ts": fold.last_ts, "notes": fold.notes}


def _thaw(data: dict[str, Any]) -> JournalFold:
    fold = JournalFold()
    from orchestrator.state.task_table import TaskTable

    fold.table = TaskTable.thaw(data["tasks"])
    fold.attempts = [Attempt(*a) for a in data["attempts"]]
    for lp in data["loops"]:
        its = [LoopIteration(**i) for i in lp.pop("iterations")]
        fold.loops[lp["name"]] = LoopStatus(iterations=its, **lp)
    fold.loop_attempt = dict(data["loop_attempt"])
    fold.workflow, fold.site, fold.last_ts = data["workflow"], data["site"], data["last_ts"]
    fold.notes = list(data["notes"])
    return fold
