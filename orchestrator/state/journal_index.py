"""A derived index of a large journal: its fold (journal_fold.py) up to a byte offset, so
that `orch status` and `orch report` of a 10^6-task run read only what was appended since.

The index (`journal.index` beside the journal) is a cache, never the truth: it records
the journal's identity (inode, first bytes, the bytes before its offset) and is ignored
and rebuilt when those differ, when it is unreadable, or when its version is not this
one's. It is written (atomically, best effort: a read-only run directory just goes
without) only for journals of `INDEX_MIN_BYTES` or more, so small runs look as before.
Stored with `marshal` (builtin values only: no code is loaded from it).
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
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import Attempt, LoopIteration, LoopStatus, TaskStatus

INDEX_NAME = "journal.index"
INDEX_VERSION = 1
INDEX_MIN_BYTES = 4 << 20  # about 15,000 task records
_PROBE = 256  # bytes compared at the start and before the offset

_FIELDS = tuple(f.name for f in dataclasses.fields(TaskStatus))
_STATE_AT = _FIELDS.index("state")
_STATES = {s.value: s for s in TaskState}


def fold_journal(journal: Path, index: bool = True) -> JournalFold:
    """The journal's fold; with `index`, from (and refreshing) its index where valid."""
    journal = Path(journal)
    path = journal.with_name(INDEX_NAME)
    fold, offset = (_load(path, journal) if index else None) or (JournalFold(), 0)
    end = _fold_from(journal, fold, offset)
    # rewritten once the tail it saves reading is a quarter of what it covers: `orch status
    # --watch` of a live run re-reads a short tail, not a new 80 MB index every refresh
    if index and end >= INDEX_MIN_BYTES and (offset == 0 or end - offset >= offset // 4):
        _save(path, journal, fold, end)
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
    rows = []
    for t in fold.tasks.values():
        row = [getattr(t, f) for f in _FIELDS]
        row[_STATE_AT] = t.state.value
        rows.append(tuple(row))
    return {"tasks": rows,
            "attempts": [dataclasses.astuple(a) for a in fold.attempts],
            "loops": [dataclasses.asdict(lp) for lp in fold.loops.values()],
            "loop_attempt": fold.loop_attempt, "workflow": fold.workflow, "site": fold.site,
            "last_ts": fold.last_ts}


def _thaw(data: dict[str, Any]) -> JournalFold:
    fold = JournalFold()
    tasks = fold.tasks
    states = _STATES
    at = _STATE_AT
    for row in data["tasks"]:
        t = TaskStatus(*row)
        t.state = states[row[at]]
        tasks[t.id] = t
    fold.attempts = [Attempt(*a) for a in data["attempts"]]
    for lp in data["loops"]:
        its = [LoopIteration(**i) for i in lp.pop("iterations")]
        fold.loops[lp["name"]] = LoopStatus(iterations=its, **lp)
    fold.loop_attempt = dict(data["loop_attempt"])
    fold.workflow, fold.site, fold.last_ts = data["workflow"], data["site"], data["last_ts"]
    return fold
