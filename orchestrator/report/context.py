"""The run as the report's sections read it, loaded once: status, plan, spec, run.json,
per-task journal extras, the workers' result records, figures and stage colours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.report.figures import figure_tasks, figures
from orchestrator.report.svg import PALETTE
from orchestrator.report.table_view import plain, stage_order, task_ids
from orchestrator.report.task_extras import (
    TaskExtra,
    fill_pids_from_results,
    journal_extras,
    journal_extras_fast,
    table_pids_from_results,
)
from orchestrator.state.plan_head import read_plan_head
from orchestrator.state.results import results_by_task
from orchestrator.state.status_model import RunStatus, TaskStatus
from orchestrator.state.task_table import TaskTable

LARGE_RUN = 100_000
"""Past this many tasks the report reads plan.json's head and the journal's task fields
without decoding every record (task_extras.journal_extras_fast)."""


class ReportContext:
    """The run, read once: status, plan, spec, run.json, per-task journal extras.

    `table`: a large finished run's task table when its sections read it as columns
    (report/table_view.plain); then `st.tasks` is that table and objects are made only for
    the tasks a section shows. Otherwise `st.tasks` are objects (from the table if need be)."""

    def __init__(self, st: RunStatus):
        self.st = st
        source = st.tasks if isinstance(st.tasks, TaskTable) else None
        self.table = source if source is not None and plain(source) else None
        if source is not None and self.table is None:  # its sections walk objects, once
            st.tasks = source.objects()
        self.large = len(st.tasks) > LARGE_RUN
        # a large run's plan.json: its head (stages, loops, pools), not 10^6 task entries
        self.plan = (read_plan_head(st.run_dir / "plan.json", []) if self.large
                     else _json_file(st.run_dir / "plan.json"))
        self.spec = _json_file(st.run_dir / "spec.json")
        self.meta = _json_file(st.run_dir / "run.json")
        self.notes: list[dict[str, Any]] = []
        self._extras: dict[str, TaskExtra] | None = None
        self._source = source
        if source is not None and source.notes is not None:
            # the journal's index kept them: the journal is not read again
            self.notes.extend(source.notes)
        else:
            self._extras = (journal_extras_fast if self.large else journal_extras)(
                st.run_dir / "journal.jsonl", self.notes)
        self.results = results_by_task(st.run_dir)  # the workers' records: files, pids
        self.pids: dict[int, int] = {}
        """Worker pids by table row that result files gave (the columnar `extras`)."""
        if self.table is not None:
            self.pids = table_pids_from_results(st.run_dir, self.table, self.results)
        else:
            fill_pids_from_results(st.run_dir, st.tasks, self.extras, records=self.results)
        self.figures = figures(st.run_dir, st, self.results,
                               None if self.table is None else figure_tasks(self))
        self.stage_names = (stage_order(self.table, (s.name for s in st.stages))
                            if self.table is not None else
                            list(dict.fromkeys([*(s.name for s in st.stages),
                                                *(t.stage for t in st.tasks)])))
        self.colour = {n: i % len(PALETTE) for i, n in enumerate(self.stage_names)}
        self._by_stage: dict[str, list[TaskStatus]] | None = None

    @property
    def extras(self) -> dict[str, TaskExtra]:
        """Code key, worker pid and device mask by task id (built on first use)."""
        if self._extras is None:
            self._extras = {tid: TaskExtra(k, p, d or {})
                            for tid, (k, p, d) in self._source.extras().items()}
            if self.table is not None:
                for tid, pid in zip(task_ids(self.table, self.pids), self.pids.values(),
                                    strict=True):
                    self._extras.setdefault(tid, TaskExtra()).pid = pid
        return self._extras

    @property
    def by_stage(self) -> dict[str, list[TaskStatus]]:
        """Each stage's tasks as objects (the object path; every task of a table made)."""
        if self._by_stage is None:
            self._by_stage = {n: [] for n in self.stage_names}
            for t in self.st.tasks:
                self._by_stage.setdefault(t.stage, []).append(t)
        return self._by_stage

    def fill(self, stage: str) -> str:
        return PALETTE[self.colour.get(stage, 0)]


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
