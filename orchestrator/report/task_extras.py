"""Per-task facts the status fold does not keep (code key, worker pid, device mask), read
for the report from the journal and, where it lacks pids, from the workers' result files.
Never imports Parsl.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.report.table_view import task_ids
from orchestrator.state.journal import _decode, read_journal
from orchestrator.state.journal_fold import NOTE_EVENTS
from orchestrator.state.results import results_by_task
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.status_model import TaskStatus
from orchestrator.state.table_columns import NONE_INT
from orchestrator.state.task_table import STATE_CODE, TaskTable

PID_FILES_READ = 10_000
"""Worker pids the journal lacks are looked up in result files for at most this many tasks."""


@dataclass
class TaskExtra:
    key: str | None = None
    pid: int | None = None
    devices: dict[str, str] = field(default_factory=dict)


def journal_extras(journal: Path, notes: list[dict[str, Any]] | None = None
                   ) -> dict[str, TaskExtra]:
    """Code key, worker pid and device mask of each task, from the journal; records of the
    NOTE_EVENTS (such as `sources_changed` on a resume) are appended to `notes`."""
    out: dict[str, TaskExtra] = {}
    for rec in read_journal(journal):
        tid = rec.get("task")
        if not isinstance(tid, str):
            if notes is not None and rec.get("ev") in NOTE_EVENTS:
                notes.append(rec)
            continue
        x = out.setdefault(tid, TaskExtra())
        if isinstance(rec.get("key"), str):
            x.key = rec["key"]
        if isinstance(rec.get("pid"), int):
            x.pid = rec["pid"]
        if isinstance(rec.get("devices"), dict) and rec["devices"]:
            x.devices = {str(k): str(v) for k, v in rec["devices"].items()}
    return out


_TASK = re.compile(rb'"task":"((?:[^"\\]|\\.)*)"')
_KEY = re.compile(rb'"key":"([0-9a-f]*)"')
_PID = re.compile(rb'"pid":(\d+)[,}]')


def journal_extras_fast(journal: Path, notes: list[dict[str, Any]] | None = None
                        ) -> dict[str, TaskExtra]:
    """`journal_extras` of a journal of 10^6 records: each line's CRC is checked, but its
    task, key and pid are read from the line's bytes (the journal writes them as flat
    fields); only lines with a device mask or a NOTE_EVENTS record are decoded whole."""
    out: dict[str, TaskExtra] = {}
    marks = tuple(f'"ev":"{e}"'.encode() for e in NOTE_EVENTS)
    if not Path(journal).is_file():
        return out
    with open(journal, "rb") as f:
        for line in f:
            head, sep, tail = line.rpartition(b',"crc":')
            if not sep or not tail.endswith(b"}\n"):
                continue
            try:
                if zlib.crc32(head + b"}") & 0xFFFFFFFF != int(tail[:-2]):
                    continue
            except ValueError:
                continue
            m = _TASK.search(head)
            if m is None or b'"devices":{' in head or any(k in head for k in marks):
                rec = _decode(line)
                if rec is None:
                    continue
                if m is None:
                    if notes is not None and rec.get("ev") in NOTE_EVENTS:
                        notes.append(rec)
                    continue
                _apply(out, rec)
                continue
            raw = m.group(1)
            tid = raw.decode() if b"\\" not in raw else json.loads(b'"' + raw + b'"')
            x = out.get(tid)
            if x is None:
                x = out[tid] = TaskExtra()
            k = _KEY.search(head)
            if k is not None:
                x.key = k.group(1).decode()
            pids = _PID.findall(head)  # the last: a returned dict may hold a "pid" too
            if pids:
                x.pid = int(pids[-1])
    return out


def _apply(out: dict[str, TaskExtra], rec: dict[str, Any]) -> None:
    tid = rec.get("task")
    if not isinstance(tid, str):
        return
    x = out.setdefault(tid, TaskExtra())
    if isinstance(rec.get("key"), str):
        x.key = rec["key"]
    if isinstance(rec.get("pid"), int):
        x.pid = rec["pid"]
    if isinstance(rec.get("devices"), dict) and rec["devices"]:
        x.devices = {str(k): str(v) for k, v in rec["devices"].items()}


def fill_pids_from_results(run_dir: Path, tasks: list[TaskStatus],
                           extras: dict[str, TaskExtra], limit: int = PID_FILES_READ,
                           records: dict[str, dict[str, Any]] | None = None) -> bool:
    """Worker pids from the workers' result files (`results/*.jsonl`; `tasks/<id>/result.json`
    in runs of earlier versions) where the journal has none: all of them or, beyond `limit`
    tasks, none (lanes are then packed per host). True if it read them. `records`: those
    files already read (`results_by_task`)."""
    missing = [t for t in tasks if t.state in SUCCESS_STATES
               and (extras.get(t.id) is None or extras[t.id].pid is None)]
    if not missing or len(missing) > limit:
        return False
    if records is None:
        records = results_by_task(run_dir)
    for t in missing:
        pid = _result_pid(run_dir, t.id, records)
        if pid is not None:
            extras.setdefault(t.id, TaskExtra()).pid = pid
    return True


def table_pids_from_results(run_dir: Path, table: TaskTable,
                            records: dict[str, dict[str, Any]], limit: int = PID_FILES_READ
                            ) -> dict[int, int]:
    """`fill_pids_from_results` of a task table (its extras columns): {row: pid} of the done
    and cached tasks without a journaled pid, all of them or, beyond `limit`, none."""
    c = table.cols
    ok = np.isin(c["state"], [STATE_CODE[s] for s in SUCCESS_STATES]) & (c["xpid"] == NONE_INT)
    rows = [r for r in np.flatnonzero(ok).tolist() if r not in table.odd["xpid"]]
    if not rows or len(rows) > limit:
        return {}
    out = {}
    for r, tid in zip(rows, task_ids(table, rows), strict=True):
        pid = _result_pid(run_dir, tid, records)
        if pid is not None:
            out[r] = pid
    return out


def _result_pid(run_dir: Path, tid: str, records: dict[str, dict[str, Any]]) -> int | None:
    """The worker pid of a task's result record (`tasks/<id>/result.json` if none)."""
    rec = records.get(tid)
    if rec is None:
        try:
            rec = json.loads((run_dir / "tasks" / task_dirname(tid) / "result.json").read_text())
        except (OSError, ValueError):
            return None
    if isinstance(rec, dict) and isinstance(rec.get("pid"), int):
        return rec["pid"]
    return None
