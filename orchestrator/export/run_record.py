"""A run directory, read once for an export: the status fold, run.json, spec.json,
plan.json, and per task what the status does not keep: the files it wrote and staged in
(with their SHA-256, from the journal, else the workers' result files), its code key, and
when and where its last attempt started (the workers' start lines). Never imports Parsl,
never writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.state.journal import read_journal
from orchestrator.state.results import StartTail, results_by_task
from orchestrator.state.status import load_status
from orchestrator.state.status_model import RunStatus

_FACT_EVENTS = ("task_done", "task_cached", "task_failed", "task_submitted",
                "sources_changed", "resume_changes")


@dataclass
class TaskFacts:
    key: str | None = None
    files: dict[str, Any] = field(default_factory=dict)
    """Declared outputs it wrote: `{name: [sha256, size, mtime_ns]}`."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Upstream files staged into its directory: `{inputs/TASK/NAME: sha256}`."""
    start: float | None = None
    """When its last attempt started on a worker (start line), for failed tasks."""
    start_host: str | None = None


@dataclass
class RunRecord:
    """Everything an export reads from a run directory."""

    path: Path
    status: RunStatus
    meta: dict[str, Any]
    spec: dict[str, Any]
    plan: dict[str, Any]
    facts: dict[str, TaskFacts]
    notes: list[dict[str, Any]]
    """Journal records about the run as a whole: `sources_changed`, `resume_changes`."""

    @property
    def warnings(self) -> list[str]:
        return self.status.warnings


def load_run(run_dir: Path) -> RunRecord:
    """UserError (located: names RUN_DIR) when it is not a run directory."""
    st = load_status(run_dir)
    path = st.run_dir
    facts: dict[str, TaskFacts] = {}
    notes: list[dict[str, Any]] = []
    for rec in read_journal(path / "journal.jsonl", events=_FACT_EVENTS):
        tid = rec.get("task")
        if not isinstance(tid, str):
            if rec.get("ev") in ("sources_changed", "resume_changes"):
                notes.append(rec)
            continue
        _apply(facts.setdefault(tid, TaskFacts()), rec)
    plan = _json(path / "plan.json")
    with_outputs = {s.get("name") for s in plan.get("stages") or []
                    if isinstance(s, dict) and s.get("outputs")}
    lacking = [t.id for t in st.tasks if t.stage in with_outputs and t.id in facts
               and t.state.value in ("done", "cached") and not facts[t.id].files]
    _fill_from_results(path, facts, lacking)
    return RunRecord(path, st, _json(path / "run.json"), _json(path / "spec.json"), plan,
                     facts, notes)


def _apply(f: TaskFacts, rec: dict[str, Any]) -> None:
    if isinstance(rec.get("key"), str):
        f.key = rec["key"]
    if rec.get("ev") in ("task_done", "task_cached"):
        f.files = rec["files"] if isinstance(rec.get("files"), dict) else {}
        f.inputs = rec["inputs"] if isinstance(rec.get("inputs"), dict) else {}
    elif rec.get("ev") == "task_failed":
        f.files, f.inputs = {}, {}


def _fill_from_results(path: Path, facts: dict[str, TaskFacts], lacking: list[str]) -> None:
    """Files of `lacking` tasks (their journal record has none: a run of an earlier
    version), and the start of every task's last attempt."""
    records = results_by_task(path) if lacking else {}
    for tid in lacking:
        f = facts[tid]
        rec = records.get(tid)
        if isinstance(rec, dict) and rec.get("key") == f.key:
            f.files = rec["files"] if isinstance(rec.get("files"), dict) else {}
            f.inputs = rec["inputs"] if isinstance(rec.get("inputs"), dict) else {}
    for tid, line in StartTail(path).poll().items():
        f = facts.setdefault(tid, TaskFacts())
        t = line.get("t")
        f.start = float(t) if isinstance(t, int | float) else None
        f.start_host = line.get("host") if isinstance(line.get("host"), str) else None


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # load_status has already said so in warnings
    return data if isinstance(data, dict) else {}
