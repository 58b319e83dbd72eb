"""The run as the report's sections read it, loaded once: status, plan, spec, run.json,
per-task journal extras, the workers' result records, figures and stage colours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.report.figures import figures
from orchestrator.report.svg import PALETTE
from orchestrator.report.task_extras import (
    TaskExtra,
    fill_pids_from_results,
    journal_extras,
    journal_extras_fast,
)
from orchestrator.state.plan_head import read_plan_head
from orchestrator.state.results import results_by_task
from orchestrator.state.status_model import RunStatus, TaskStatus
from orchestrator.state.task_table import TaskTable

LARGE_RUN = 100_000
"""Past this many tasks the report reads plan.json's head and the journal's task fields
without decoding every record (task_extras.journal_extras_fast)."""


class ReportContext:
    """The run, read once: status, plan, spec, run.json, per-task journal extras."""

    def __init__(self, st: RunStatus):
        self.st = st
        self.table = st.tasks if isinstance(st.tasks, TaskTable) else None
        if self.table is not None:  # its sections walk every task: made objects once
            st.tasks = self.table.objects()
        self.large = len(st.tasks) > LARGE_RUN
        # a large run's plan.json: its head (stages, loops, pools), not 10^6 task entries
        self.plan = (read_plan_head(st.run_dir / "plan.json", []) if self.large
                     else _json_file(st.run_dir / "plan.json"))
        self.spec = _json_file(st.run_dir / "spec.json")
        self.meta = _json_file(st.run_dir / "run.json")
        self.notes: list[dict[str, Any]] = []
        if self.table is not None and self.table.notes is not None:
            # the journal's index kept them: the journal is not read again
            self.notes.extend(self.table.notes)
            self.extras = {tid: TaskExtra(k, p, d or {})
                           for tid, (k, p, d) in self.table.extras().items()}
        else:
            self.extras = (journal_extras_fast if self.large else journal_extras)(
                st.run_dir / "journal.jsonl", self.notes)
        self.results = results_by_task(st.run_dir)  # the workers' records: files, pids
        fill_pids_from_results(st.run_dir, st.tasks, self.extras, records=self.results)
        self.figures = figures(st.run_dir, st, self.results)  # "" when no task made one
        names = [s.name for s in st.stages]
        self.colour = {n: i % len(PALETTE) for i, n in enumerate(names)}
        self.by_stage: dict[str, list[TaskStatus]] = {n: [] for n in names}
        for t in st.tasks:
            self.by_stage.setdefault(t.stage, []).append(t)
            self.colour.setdefault(t.stage, len(self.colour) % len(PALETTE))

    def fill(self, stage: str) -> str:
        return PALETTE[self.colour.get(stage, 0)]


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
