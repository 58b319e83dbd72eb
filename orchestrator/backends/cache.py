"""Which tasks a resume takes from earlier attempts: the journal's records by task key, or
a worker's results file (a task that finished while the driver was dying), provided the
task's outputs are still there and the files it read still have the content it read.
Engine-neutral: no Parsl."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.backends.files import current_hash
from orchestrator.state.results import results_by_key
from orchestrator.state.rundir import RunDir


class TaskCache:
    def __init__(self, done_records: dict[str, dict[str, Any]], rundir: RunDir,
                 resuming: bool, legacy: Any = None):
        self.done_records = done_records  # key -> record, from earlier attempts
        self.rundir = rundir
        self.resuming = resuming
        self.legacy = legacy  # reads a pre-results-file task's own result.json
        self._recovered: dict[str, dict[str, Any]] | None = None  # worker files, on resume

    def lookup(self, payload: dict[str, Any], handles: Mapping[str, Any]) -> dict | None:
        """The finished record that stands for this task now, or None: it must run.
        `handles`: task id -> finished record (a dict) or what runs it now."""
        record = self.done_records.get(payload["key"])
        if record is None and self.resuming:  # finished while the driver was dying?
            if self._recovered is None:
                self._recovered = results_by_key(self.rundir.path)
            record = self._recovered.get(payload["key"])
            if record is None and self.legacy is not None:
                record = self.legacy(self.rundir.task_dir(payload["task_id"]), payload["key"])
        if record is None:
            return None
        task_dir = self.rundir.task_dir(payload["task_id"])
        if any(not (task_dir / o).exists() for o in payload["outputs"]):
            return None
        if payload.get("stage_in") and not same_inputs(payload, record, handles):
            return None
        return record


def same_inputs(payload: dict[str, Any], record: dict[str, Any],
                handles: Mapping[str, Any]) -> bool:
    """A task that reads upstream files is taken from the cache only if every producer
    is finished (not running again now) and each file it read has the content it had:
    so a changed file sends exactly its readers, and theirs, back to run."""
    read = record.get("inputs") or {}
    for src, staged, producer, rel in payload["stage_in"]:
        done = handles.get(producer)
        if not isinstance(done, dict):
            return False
        if current_hash(src, (done.get("files") or {}).get(rel)) != read.get(staged):
            return False
    return True


