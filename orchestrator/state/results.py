"""Per-worker result files: how a task that finished while the driver was dead is recovered.

Every worker process appends one JSON line per finished task (its record: task,
key, result, times, host, pid) to `results/<host>-<pid>.jsonl` in the run
directory, with a single O_APPEND write and no fsync. One open file per worker
replaces a `result.json` created per task (file creation was the largest
per-task cost of a run). The journal stays the durable truth; these lines are
a recovery hint read only by `--resume`: a line lost to a crash or power cut
means the task runs again, a torn last line is skipped. No Parsl here.

A worker also appends a start line (`{"started": task id, "host", "pid", "t"}`, no
`key`) when a task starts running on it: how the driver and `orch status` tell a
running task from a queued one without a file or a message per task (StartTail).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS_DIR = "results"

_lock = threading.Lock()
_fds: dict[tuple[int, str], int] = {}  # (pid, run dir): a forked child opens its own file


def append_result(run_dir: str, line: str) -> None:
    """Append one record (already JSON, no newline) to this process's file in `run_dir`."""
    slot = (os.getpid(), run_dir)
    fd = _fds.get(slot)
    if fd is None:
        with _lock:
            fd = _fds.get(slot)
            if fd is None:
                folder = os.path.join(run_dir, RESULTS_DIR)
                os.makedirs(folder, exist_ok=True)
                name = f"{socket.gethostname()}-{os.getpid()}.jsonl"
                fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                             0o644)
                _fds[slot] = fd
    os.write(fd, (line + "\n").encode())


def append_start(run_dir: str, task_id: str) -> None:
    """Say that `task_id` starts running in this process now (see StartTail)."""
    append_result(run_dir, json.dumps({"started": task_id, "host": socket.gethostname(),
                                       "pid": os.getpid(), "t": time.time()},
                                      separators=(",", ":")))


class StartTail:
    """The start lines of a run's worker files, read incrementally: each poll reads only
    what was appended since the last one (bytes after the last newline wait for the
    next poll)."""

    def __init__(self, run_dir: Path):
        self.folder = Path(run_dir) / RESULTS_DIR
        self.offsets: dict[str, int] = {}
        self.starts: dict[str, dict[str, Any]] = {}  # task id -> its latest start line
        self.ends: dict[str, float] = {}  # task id -> when its latest result line says it ended

    def poll(self) -> dict[str, dict[str, Any]]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return self.starts
        for name in names:
            self._read(name)
        return self.starts

    def _read(self, name: str) -> None:
        offset = self.offsets.get(name, 0)
        try:
            with open(self.folder / name, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        if not end:
            return
        self.offsets[name] = offset + end
        for line in data[:end].split(b"\n"):
            if line.startswith(b'{"task":'):
                self._ended(line)
            if b'"started"' not in line[:12]:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("started"), str):
                self.starts[rec["started"]] = rec


    def _ended(self, line: bytes) -> None:
        """A result line's task and end time, without parsing its (maybe large) result:
        the record's own `ended` is its last one (worker.run_task writes it after it)."""
        at = line.rfind(b'"ended":')
        try:
            task, _ = _DECODER.raw_decode(line[8:].decode("utf-8", errors="replace"))
            ended = float(line[at + 8:].split(b",", 1)[0].rstrip(b"}"))
        except (ValueError, IndexError):
            return
        if isinstance(task, str) and at > 0:
            self.ends[task] = ended


_DECODER = json.JSONDecoder()


def iter_results(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Every intact record of every worker file, in no particular order across files."""
    folder = Path(run_dir) / RESULTS_DIR
    try:
        files = sorted(folder.iterdir())
    except OSError:
        return
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for line in data.split(b"\n")[:-1]:  # the part after the last newline is torn
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                yield record


def results_by_key(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in iter_results(run_dir)}


def results_by_task(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record per task id (a retried or re-run task appears more than once)."""
    out: dict[str, dict[str, Any]] = {}
    for r in iter_results(run_dir):
        task = r.get("task")
        if isinstance(task, str) and (
                task not in out or (r.get("ended") or 0) >= (out[task].get("ended") or 0)):
            out[task] = r
    return out
