"""How long a workflow's stages took in earlier runs, read from their run directories.

`orch plan` turns it into an expected cost next to the walltime bound, `orch report`
shows it beside what a run used, and the live progress display into ETAs. Pure
reading (no Parsl): each journal is streamed once; a run that cannot be read is
skipped, since a history is a hint and never a reason to fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from orchestrator.state.journal import JOURNAL_NAME, read_journal
from orchestrator.state.journal_index import INDEX_MIN_BYTES, fold_journal
from orchestrator.state.plan_head import read_plan_head
from orchestrator.state.states import TaskState


@dataclass(frozen=True)
class StageHistory:
    stage: str
    seconds: float  # mean run time (ended - started) of one done task (not cached ones)
    tasks: int  # how many done tasks it is measured from
    runs: int  # how many earlier runs they came from


def _workflow_of(run: Path) -> str | None:
    try:  # the head of plan.json: a 10^6-task run's task list is hundreds of MB
        plan = read_plan_head(run / "plan.json", [])
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    name = plan.get("workflow") if isinstance(plan, dict) else None
    return name if isinstance(name, str) else None


def _mtime(run: Path) -> float:
    try:
        return (run / "run.json").stat().st_mtime
    except OSError:
        return 0.0


def earlier_runs(root: Path, workflow: str, exclude: Path | None = None,
                 limit: int = 5) -> list[Path]:
    """Run directories under root (direct children holding run.json) of the same workflow
    (by the workflow name in plan.json), newest first, at most limit, excluding `exclude`."""
    try:
        children = [p for p in Path(root).iterdir() if (p / "run.json").is_file()]
    except OSError:
        return []
    skip = Path(exclude).resolve() if exclude is not None else None
    # newest first: run.json's mtime, then the name (`wf-YYYYmmdd-HHMMSS` sorts by time)
    children.sort(key=lambda p: (_mtime(p), p.name), reverse=True)
    out: list[Path] = []
    for run in children:
        if len(out) >= limit:
            break
        if skip is not None and run.resolve() == skip:
            continue
        if _workflow_of(run) == workflow:
            out.append(run)
    return out


def _durations(run: Path) -> dict[str, tuple[str, float]]:
    """task id -> (stage, seconds) of its last `task_done` in the run's journal; a large
    journal's through its index (journal_index.py): the done tasks of its fold."""
    out: dict[str, tuple[str, float]] = {}
    try:
        large = (run / JOURNAL_NAME).stat().st_size >= INDEX_MIN_BYTES
    except OSError:
        large = False
    if large:
        fold = fold_journal(run / JOURNAL_NAME, columnar=True)
        if fold.table is not None:
            return _table_durations(fold.table)
        for tid, t in fold.tasks.items():
            if t.state is TaskState.DONE and _number(t.started) and _number(t.ended) \
                    and t.ended >= t.started:
                out[tid] = (t.stage, float(t.ended) - float(t.started))
        return out
    for rec in read_journal(run / JOURNAL_NAME, events=("task_done",)):
        if rec.get("ev") != "task_done":
            continue
        tid, start, end = rec.get("task"), rec.get("started"), rec.get("ended")
        if not (isinstance(tid, str) and _number(start) and _number(end) and end >= start):
            continue
        stage = rec.get("stage")
        stage = stage if isinstance(stage, str) else tid.split("[")[0].split("@")[0]
        out[tid] = (stage, float(end) - float(start))
    return out


def _table_durations(table) -> dict[str, tuple[str, float]]:
    """_durations' done tasks from a journal index's columns (task_table.py): only those
    rows become objects."""
    import numpy as np

    from orchestrator.state.task_table import NONE_INT, STATE_CODE

    c = table.cols
    seconds = c["ended"] - c["started"]
    ok = np.isfinite(seconds) & (seconds >= 0) & (c["state"] == STATE_CODE[TaskState.DONE])
    rows = np.flatnonzero(ok)
    names, out = table.names["stage"], {}
    for r, s, k, d in zip(rows.tolist(), c["stage"][rows].tolist(), c["idk"][rows].tolist(),
                          seconds[rows].tolist(), strict=True):
        if s < 0 or k == NONE_INT:
            t = table.task(r)
            out[t.id] = (str(t.stage), d)
        else:
            out[f"{names[s]}[{k}]"] = (names[s], d)
    return out


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def stage_history(runs: list[Path]) -> dict[str, StageHistory]:
    """Per stage: the mean run time of its done tasks over `runs`; stages with none are
    absent. Cached tasks ran in some other run and are not counted again."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    seen_in: dict[str, int] = {}
    for run in runs:
        try:
            durations = _durations(Path(run))
        except OSError:
            continue
        stages: set[str] = set()
        for stage, seconds in durations.values():
            total[stage] = total.get(stage, 0.0) + seconds
            count[stage] = count.get(stage, 0) + 1
            stages.add(stage)
        for stage in stages:
            seen_in[stage] = seen_in.get(stage, 0) + 1
    return {s: StageHistory(s, total[s] / count[s], count[s], seen_in[s]) for s in total}
