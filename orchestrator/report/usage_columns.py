"""usage.stage_tasks from a task table's columns: per stage its task count, its done and
cached tasks' sorted run times and the first loop one names, without 10^6 objects."""

from __future__ import annotations

import numpy as np

from orchestrator.report.durations import timed_columns
from orchestrator.report.usage import StageTasks
from orchestrator.state.task_table import TaskTable


def table_stage_tasks(table: TaskTable) -> dict[str, StageTasks]:
    """usage.stage_tasks(table) for a table report/table_view.plain accepts."""
    c = table.cols
    codes, first = np.unique(c["stage"], return_index=True)
    counts = np.bincount(c["stage"], minlength=len(table.names["stage"]))
    named = np.array([bool(n) for n in table.names["loop"]] + [False])[c["loop"]]
    # a loop name (not "" nor None) of each stage's first task with one
    looped = np.flatnonzero(named)
    lc, lfirst = np.unique(c["stage"][looped], return_index=True)
    loops = {int(s): table.names["loop"][c["loop"][looped[i]]]
             for s, i in zip(lc.tolist(), lfirst.tolist(), strict=True)}
    out = {}
    for code in codes[np.argsort(first, kind="stable")].tolist():
        name = table.names["stage"][code]
        d, _ = timed_columns(table, name)
        out[name] = StageTasks(int(counts[code]), d.tolist(), loops.get(code))
    return out
